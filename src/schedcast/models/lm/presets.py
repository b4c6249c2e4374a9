"""Named recipes. `smollm2-cpu` is what runs on a 2-core CPU; `qwen2.5-coder-7b-qlora`
is the paper's 7B recipe (Qwen2.5-Coder-7B-Instruct, 4-bit QLoRA, r=16, α=32,
gradient checkpointing) for a user with a CUDA GPU and the weights in a local folder."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from schedcast.models.lm.errors import LMError
from schedcast.models.lm.training import TrainOptions


@dataclass(frozen=True)
class Preset:
    name: str
    needs_model_path: bool
    settings: dict[str, Any]

    def apply(self, options: TrainOptions, model_given: bool) -> TrainOptions:
        if self.needs_model_path and not model_given:
            raise LMError(f"preset {self.name} needs --model PATH: a local folder with the model's weights (nothing is downloaded)")
        return replace(options, **self.settings)


PRESETS: dict[str, Preset] = {
    "smollm2-cpu": Preset("smollm2-cpu", False, {"lora_r": 16, "lora_alpha": 32, "max_length": 1024, "batch_size": 4}),
    "qwen2.5-coder-7b-qlora": Preset(
        "qwen2.5-coder-7b-qlora",
        True,
        {
            "quantize_4bit": True, "gradient_checkpointing": True, "lora_r": 16, "lora_alpha": 32, "bf16": True,
            "max_length": 2048, "batch_size": 4,
            "target_modules": ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),
        },
    ),
}
