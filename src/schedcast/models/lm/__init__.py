"""The language-model path: local models (SmolLM2 from its GGUF, or any Hugging Face
folder), LoRA fine-tuning with the paper's `ce` and `kl` objectives, and LMPredictor
(docs/lm.md). torch, transformers and peft are imported only when used (the `ml` extra)."""

from __future__ import annotations

from pathlib import Path

from schedcast.models.lm.errors import LMError, require_ml
from schedcast.models.lm.predictor import LMPredictor, ScoreReport
from schedcast.models.lm.presets import PRESETS, Preset
from schedcast.models.lm.training import OBJECTIVES, TrainOptions, TrainReport, train_lm


def save_base_model(options: TrainOptions, out: Path) -> Path:
    """The untuned model as a predictor file (the paper's "zero-shot, same model" row)."""
    from schedcast.models.lm.loading import resolve_model

    require_ml()
    resolve_model(options.model)  # fail now, with one line, when the model is missing
    name = options.label or "lm-base"
    predictor = LMPredictor(
        model=options.model, prompt_format=options.prompt_format, max_length=options.max_length, chat=options.chat,
        label=name, quantize_4bit=options.quantize_4bit,
    )
    path = Path(out) / f"{name}.json"
    predictor.save(path)
    return path


__all__ = [
    "OBJECTIVES",
    "PRESETS",
    "LMError",
    "LMPredictor",
    "Preset",
    "ScoreReport",
    "TrainOptions",
    "TrainReport",
    "require_ml",
    "save_base_model",
    "train_lm",
]
