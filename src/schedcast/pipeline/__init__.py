"""The main job as one pipeline over the stage APIs: configurable (TOML, presets),
keyed by its inputs' content, resumable after a kill (docs/pipeline.md)."""

from schedcast.pipeline.config import PRESETS, ConfigError, PipelineConfig, apply, load_config, preset, to_toml
from schedcast.pipeline.run import CONFIG_FILE, TIMINGS_FILE, PipelineResult, StageRun, main_job_command, run_pipeline, validate

__all__ = [
    "CONFIG_FILE",
    "PRESETS",
    "TIMINGS_FILE",
    "ConfigError",
    "PipelineConfig",
    "PipelineResult",
    "StageRun",
    "apply",
    "load_config",
    "main_job_command",
    "preset",
    "run_pipeline",
    "to_toml",
    "validate",
]
