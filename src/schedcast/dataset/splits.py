"""Train / validation / test splits by program, with a hygiene check.

The paper's held-out protocol: train on hand-crafted, built-in and generated
programs, test on every real-world kernel. Validation is carved from the training
programs by a hash of the program id (stable across builds). A generated program
that imitates a test program (its `extra["imitates"]` names it) is excluded.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

TEST_ORIGINS = frozenset({"goker", "gobench"})
EXCLUDED = "excluded"


class SplitError(ValueError):
    """The same program (or the same source) sits on both sides of the split."""


@dataclass(frozen=True)
class ProgramSplitInfo:
    program_id: str
    source_hash: str
    origin: str
    imitates: str = ""


def _in_validation(program_id: str, fraction: float) -> bool:
    digest = hashlib.sha256(program_id.encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < fraction


def assign_splits(programs: Iterable[ProgramSplitInfo], validation_fraction: float = 0.1) -> dict[str, str]:
    programs = list(programs)
    test_ids = {p.program_id for p in programs if p.origin in TEST_ORIGINS}
    splits: dict[str, str] = {}
    for p in programs:
        if p.origin in TEST_ORIGINS:
            splits[p.program_id] = "test"
        elif p.imitates and p.imitates in test_ids:
            splits[p.program_id] = EXCLUDED
        elif _in_validation(p.program_id, validation_fraction):
            splits[p.program_id] = "val"
        else:
            splits[p.program_id] = "train"
    check_split_hygiene(programs, splits)
    return splits


def check_split_hygiene(programs: Iterable[ProgramSplitInfo], splits: dict[str, str]) -> None:
    """Raise SplitError if a program id or a source appears in test and in train/val,
    or if a program imitating a test program is used for training."""
    programs = list(programs)
    side: dict[str, set[str]] = {}
    for p in programs:
        s = splits[p.program_id]
        if s == EXCLUDED:
            continue
        side.setdefault(p.program_id, set()).add("test" if s == "test" else "train")
        side.setdefault("source:" + p.source_hash, set()).add("test" if s == "test" else "train")
    both = sorted(k for k, v in side.items() if len(v) > 1)
    if both:
        raise SplitError(f"on both sides of the train/test split: {both[:10]}{' ...' if len(both) > 10 else ''}")
    test_ids = {p.program_id for p in programs if splits[p.program_id] == "test"}
    imitators = sorted(p.program_id for p in programs if p.imitates in test_ids and splits[p.program_id] in ("train", "val"))
    if imitators:
        raise SplitError(f"programs imitating test programs are in train/val: {imitators[:10]}")
