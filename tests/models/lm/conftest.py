"""A tiny randomly initialised model of SmolLM2's architecture (Llama, tied embeddings,
grouped-query attention) with SmolLM2's real tokenizer and chat template, and a real
dataset to draw prompts from."""

from __future__ import annotations

from pathlib import Path

import pytest



@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from schedcast.dataset.tokenizer import smollm2_gguf_path
    from schedcast.models.lm.loading import smollm2_hf_tokenizer

    out = tmp_path_factory.mktemp("tiny-smollm2")
    tok = smollm2_hf_tokenizer(smollm2_gguf_path())
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        max_position_embeddings=8192,
        rope_parameters={"rope_theta": 100000.0, "rope_type": "default"},
        tie_word_embeddings=True,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(str(out))
    tok.save_pretrained(str(out))
    return out
