"""The multi-step coherence probe: roll predictors forward from real prefixes of
held-out runs and measure survival, per-step distributions and k-step fidelity."""

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
    "ProbeResult",
    "SchedState",
    "probe",
    "program_class",
    "replay_through_fsm",
    "select_prefixes",
]
