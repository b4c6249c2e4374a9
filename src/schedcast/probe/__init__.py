"""The multi-step coherence probe: roll predictors forward from real prefixes of
held-out runs and measure survival, per-step distributions and k-step fidelity."""

from schedcast.probe.api import ProbeOptions, run_probe, write_probe_outputs
from schedcast.probe.probe import (
    KIND_ONLY_RULE,
    MAX_HORIZON,
    MODES,
    ModelResult,
    MovePredictor,
    ProbeError,
    ProbeResult,
    probe,
    program_class,
    select_prefixes,
)
from schedcast.probe.rollout import SchedState, replay_through_fsm

__all__ = [
    "KIND_ONLY_RULE",
    "MAX_HORIZON",
    "MODES",
    "ModelResult",
    "MovePredictor",
    "ProbeError",
    "ProbeOptions",
    "ProbeResult",
    "SchedState",
    "probe",
    "program_class",
    "replay_through_fsm",
    "run_probe",
    "select_prefixes",
    "write_probe_outputs",
]
