"""Compare schedcast's SmolLM2 tokenizer with transformers' own GGUF loader.

schedcast rebuilds the tokenizer from the GGUF file with `tokenizers` alone (no
torch). This script tokenizes every source file of the repository (.go, .py) with
both and prints how many token sequences are identical, and where the first
difference of each mismatching file lies.

Needs, besides schedcast: transformers and torch (`pip install transformers torch==2.13.0`).
Usage: python benchmarks/tokenizer_check.py
"""

from __future__ import annotations

from pathlib import Path

from schedcast.dataset.tokenizer import GGUF_FILE, smollm2_gguf_path, smollm2_tokenizer


def main() -> None:
    from transformers import AutoTokenizer

    gguf = smollm2_gguf_path()
    theirs = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=GGUF_FILE)
    ours = smollm2_tokenizer()
    root = Path(__file__).resolve().parents[1] / "src"
    files = sorted(p for p in root.rglob("*") if p.suffix in (".go", ".py"))
    same = tokens = 0
    for path in files:
        text = path.read_text()
        a = ours.encode(text, add_special_tokens=False).ids
        b = theirs(text, add_special_tokens=False)["input_ids"]
        tokens += len(b)
        if a == b:
            same += 1
            continue
        i = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
        print(f"differs: {path.relative_to(root)} at token {i}: ours {ours.id_to_token(a[i]) if i < len(a) else None!r}, "
              f"transformers {theirs.convert_ids_to_tokens(b[i]) if i < len(b) else None!r}")
    print(f"identical token sequences: {same} of {len(files)} files ({tokens:,} tokens by transformers' count)")


if __name__ == "__main__":
    main()
