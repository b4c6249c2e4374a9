"""The main job's configuration: one dataclass per stage, presets, a TOML file, overrides.

A TOML file has one table per stage and an optional top-level `preset`; keys it leaves
out keep the preset's values, and command-line options override both. Unknown keys,
wrong types and preset typos are ConfigError, one line naming the key."""

from __future__ import annotations

import difflib
import tomllib
from dataclasses import asdict, dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """A configuration that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class CorpusConfig:
    generated: int = 20  # generated programs (train side)
    test_forms: bool = False  # each train-side main program also in test-kernel form
    stress_copies: int = 16  # > 0: each generated program also as a test kernel running this many copies at once (0: off)
    gobench: tuple[str, ...] = ()  # folders written by `corpus import-gobench` (test side)
    programs: tuple[str, ...] = ()  # only these program ids (empty: the whole corpus)


@dataclass(frozen=True)
class CollectConfig:
    runs: int = 10
    gomaxprocs: int = 2
    timeout: float = 10.0  # wall-clock limit per run, seconds
    race: bool = True
    seed: int = 0
    workers: int | None = None  # parallel runs; does not change the results (not in the stage key)
    executor: str = "local"  # local | dask: where runs, dataset extraction and bootstraps happen (not in the stage key)
    scheduler: str | None = None  # the dask scheduler, tcp://HOST:PORT (None with dask: a LocalCluster of `workers` processes)


@dataclass(frozen=True)
class DatasetConfig:
    validation: float = 0.1  # share of training programs held out for validation
    keep_runtime: bool = False
    workers: int | None = None  # does not change the results (not in the stage key)


@dataclass(frozen=True)
class TrainConfig:
    structural: bool = True
    max_iter: int = 20  # the structural predictor's boosting iterations per booster
    folds: int = 3  # its cross-fitting folds by program family
    deals: int = 2  # how many times the families are dealt into the folds
    positions: int = 10  # its extra training positions per train run
    seed: int = 0
    trajectory: bool = False  # the trajectory model (issue 14); off until its cost in the main job is measured
    trajectory_epochs: int = 5


@dataclass(frozen=True)
class EvaluateConfig:
    boot: int = 1000
    seed: int = 0
    ablations: bool = False
    markdown: str | None = None  # also copy the results page here (it is always OUT/results/results.md)


@dataclass(frozen=True)
class ProbeConfig:
    enabled: bool = False  # off until its cost in the main job is measured
    horizon: int = 15
    samples: int = 3
    runs_per_program: int = 3
    seed: int = 0


@dataclass(frozen=True)
class ReportConfig:
    enabled: bool = True


@dataclass(frozen=True)
class PipelineConfig:
    preset: str = "demo"
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    collect: CollectConfig = field(default_factory=CollectConfig)
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    probe: ProbeConfig = field(default_factory=ProbeConfig)
    report: ReportConfig = field(default_factory=ReportConfig)


SECTIONS = [f.name for f in fields(PipelineConfig) if f.name != "preset"]

# Each preset is a set of overrides of the defaults (demo = the defaults: README command 1).
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "demo": {},
    # The paper's protocol: race build, five runs per program, examples at 25/50/75 % (the default positions).
    "paper": {"collect": {"runs": 5, "race": True}},
    # Everything: more generated programs and runs, test forms, ablations and the trajectory model.
    "full": {
        "corpus": {"generated": 100, "test_forms": True},
        "collect": {"runs": 20},
        "train": {"trajectory": True},
        "evaluate": {"ablations": True},
        "probe": {"enabled": True},
    },
}


def _closest(word: str, choices: list[str]) -> str:
    match = difflib.get_close_matches(word, choices, n=1, cutoff=0.5)
    return f" (did you mean {match[0]!r}?)" if match else f" (choose from {', '.join(choices)})"


def preset(name: str) -> PipelineConfig:
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}{_closest(name, list(PRESETS))}")
    return apply(PipelineConfig(preset=name), PRESETS[name], where=f"preset {name}")


def _coerce(value: Any, default: Any, annotation: str, key: str, where: str) -> Any:
    """The TOML value as the field's type, or ConfigError naming the key."""
    def bad(kind: str) -> ConfigError:
        return ConfigError(f"{where}: {key} must be {kind} (got {value!r})")

    if "tuple" in annotation:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise bad("a list of strings")
        return tuple(value)
    if value is None:
        if "None" in annotation:
            return None
        raise bad("set")
    if annotation.startswith("bool"):
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if annotation.startswith("int"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad("an integer")
        return value
    if annotation.startswith("float"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad("a number")
        return float(value)
    if annotation.startswith("str"):
        if not isinstance(value, str):
            raise bad("a string")
        return value
    raise bad(annotation)  # pragma: no cover - every field type is handled above


def apply(config: PipelineConfig, overrides: dict[str, Any], where: str) -> PipelineConfig:
    """`config` with `overrides` ({section: {key: value}}) applied; unknown sections
    and keys are ConfigError with the closest name."""
    changed: dict[str, Any] = {}
    for section, values in overrides.items():
        if section not in SECTIONS:
            raise ConfigError(f"{where}: unknown section '{section}'{_closest(section, SECTIONS)}")
        if not isinstance(values, dict):
            raise ConfigError(f"{where}: {section} must be a table")
        current = getattr(config, section)
        known = {f.name: f for f in fields(current)}
        updates = {}
        for key, value in values.items():
            if key not in known:
                raise ConfigError(f"{where}: unknown key {section}.{key}{_closest(key, list(known))}")
            updates[key] = _coerce(value, getattr(current, key), str(known[key].type), f"{section}.{key}", where)
        changed[section] = replace(current, **updates)
    return replace(config, **changed)


def load_config(path: Path | None = None, preset_name: str | None = None) -> PipelineConfig:
    """The preset (the file's `preset`, else `preset_name`, else demo) with the file's tables applied."""
    if path is None:
        return preset(preset_name or "demo")
    try:
        data = tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    name = data.pop("preset", None)
    if name is not None and not isinstance(name, str):
        raise ConfigError(f"{path}: preset must be a string (got {name!r})")
    if name is not None and preset_name is not None and name != preset_name:
        name = preset_name  # the command line wins
    stray = [k for k, v in data.items() if not isinstance(v, dict)]
    if stray:
        raise ConfigError(f"{path}: unknown key {stray[0]!r}{_closest(stray[0], ['preset'])}")
    return apply(preset(name or preset_name or "demo"), data, where=str(path))


def section_dict(section: Any) -> dict[str, Any]:
    assert is_dataclass(section)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(section).items()}  # type: ignore[call-overload]


def to_toml(config: PipelineConfig) -> str:
    """The effective configuration as a TOML file `load_config` reads back."""
    lines = [f"preset = {_toml_value(config.preset)}"]
    for section in SECTIONS:
        lines.append(f"\n[{section}]")
        for key, value in section_dict(getattr(config, section)).items():
            if value is None:
                lines.append(f"# {key} = (unset)")
            else:
                lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(value)  # pragma: no cover
