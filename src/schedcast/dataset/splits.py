"""Train / validation / test splits by program family, with a hygiene check.

The paper's held-out protocol: train on hand-crafted, built-in and generated
programs, test on every real-world kernel. Validation is carved from the training
programs by a hash of the program's *family* (stable across builds), never of the
program alone, so that near-copies land on the same side:

- a hand-crafted program and its twin (``extra["twin"]`` in program.toml; the buggy
  and clean versions of one program) form one family, closed transitively;
- generated programs from the same template and generator seed form one family
  (``gen:<template>:<seed>``): they share their skeleton;
- every other program is its own family.

The same bug in two kernel suites: the toolchain's GoKer kernels are stress versions
of GoBench kernels (same project and bug id). When both are present, the GoBench
kernel (the original test, the paper's test set) is tested and the GoKer one is
``excluded``, so that no bug is counted twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

TEST_ORIGINS = frozenset({"goker", "gobench"})
EXCLUDED = "excluded"
SPLITS = ("train", "val", "test")  # the splits examples are scored on (programs may also be EXCLUDED)


class SplitError(ValueError):
    """The same program, source or family sits on two sides of a split."""


@dataclass(frozen=True)
class ProgramSplitInfo:
    program_id: str
    source_hash: str
    origin: str
    twin: str = ""  # hand-crafted: the program id of its buggy/clean twin
    template: str = ""  # generated: template and generator seed
    seed: str = ""
    bug_key: str = ""  # kernels: "<project>#<bug id>" (the same bug in GoBench and GoKer)


def program_families(programs: Iterable[ProgramSplitInfo]) -> dict[str, str]:
    """Program id -> family key (twins closed transitively, generator template+seed)."""
    programs = list(programs)
    parent: dict[str, str] = {p.program_id: p.program_id for p in programs}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(a: str, b: str) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    by_template: dict[str, str] = {}
    for p in programs:
        if p.twin and p.twin in parent:
            union(p.program_id, p.twin)
        if p.origin == "generated" and p.template:
            key = f"gen:{p.template}:{p.seed}"
            first = by_template.setdefault(key, p.program_id)
            union(p.program_id, first)
    info = {p.program_id: p for p in programs}
    families: dict[str, str] = {}
    for p in programs:
        root = info[find(p.program_id)]
        generated = root.origin == "generated" and root.template
        families[p.program_id] = f"gen:{root.template}:{root.seed}" if generated else f"family:{root.program_id}"
    return families


def _in_validation(family: str, fraction: float) -> bool:
    digest = hashlib.sha256(family.encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < fraction


def duplicate_kernels(programs: Iterable[ProgramSplitInfo]) -> dict[str, str]:
    """GoKer program id -> the GoBench program id of the same bug (GoBench wins)."""
    programs = list(programs)
    gobench = {p.bug_key: p.program_id for p in programs if p.origin == "gobench" and p.bug_key}
    return {p.program_id: gobench[p.bug_key] for p in programs if p.origin == "goker" and p.bug_key in gobench}


def assign_splits(programs: Iterable[ProgramSplitInfo], validation_fraction: float = 0.1) -> dict[str, str]:
    programs = list(programs)
    families = program_families(programs)
    duplicates = duplicate_kernels(programs)
    splits: dict[str, str] = {}
    for p in programs:
        if p.program_id in duplicates:
            splits[p.program_id] = EXCLUDED
        elif p.origin in TEST_ORIGINS:
            splits[p.program_id] = "test"
        elif _in_validation(families[p.program_id], validation_fraction):
            splits[p.program_id] = "val"
        else:
            splits[p.program_id] = "train"
    check_split_hygiene(programs, splits)
    return splits


def check_split_hygiene(programs: Iterable[ProgramSplitInfo], splits: dict[str, str]) -> None:
    """Raise SplitError if a program id or a source appears in test and in train/val,
    if a family straddles train/val/test, or if one bug is tested twice."""
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
    families = program_families(programs)
    family_sides: dict[str, set[str]] = {}
    for p in programs:
        if splits[p.program_id] != EXCLUDED:
            family_sides.setdefault(families[p.program_id], set()).add(splits[p.program_id])
    straddling = sorted(f for f, s in family_sides.items() if len(s) > 1)
    if straddling:
        raise SplitError(f"program families on more than one side of a split: {straddling[:10]}")
    tested: dict[str, list[str]] = {}
    for p in programs:
        if splits[p.program_id] == "test" and p.bug_key:
            tested.setdefault(p.bug_key, []).append(p.program_id)
    twice = sorted(ids for ids in tested.values() if len(ids) > 1)
    if twice:
        raise SplitError(f"the same bug is tested more than once: {twice[:10]}")
