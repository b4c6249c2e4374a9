"""Stage outputs keyed by their inputs' content, written atomically.

Each stage's output directory holds a small manifest, `.schedcast-stage` (JSON): the
stage, the schedcast version, the key (a SHA-256 of the stage's config section, its
inputs' digests and the version) and the output's digest (a SHA-256 over every file's
path and content). A stage is written to a temporary directory beside its place, the
manifest last, and renamed into place: a killed stage leaves only a temporary directory,
removed on the next run. A rerun skips a stage whose manifest has the same key."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from schedcast import __version__

MANIFEST = ".schedcast-stage"
TMP_PREFIX = ".tmp-"


@dataclass(frozen=True)
class Manifest:
    stage: str
    version: str
    key: str
    output: str  # digest of the output files

    def to_json(self) -> str:
        return json.dumps({"stage": self.stage, "version": self.version, "key": self.key, "output": self.output}, indent=2, sort_keys=True) + "\n"


def stage_key(stage: str, section: dict[str, Any], inputs: dict[str, str]) -> str:
    blob = json.dumps({"stage": stage, "version": __version__, "config": section, "inputs": inputs}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def tree_digest(root: Path, skip: Callable[[Path], bool] = lambda p: False) -> str:
    """SHA-256 over (relative path, content) of every file under root, the manifest left out."""
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.name != MANIFEST and not skip(p)):
        h.update(str(path.relative_to(root)).encode() + b"\0")
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        h.update(b"\0")
    return h.hexdigest()


def read_manifest(directory: Path) -> Manifest | None:
    """The manifest in `directory`; None when there is none; a malformed one reads as version '?'."""
    path = directory / MANIFEST
    if not path.is_file():
        return None
    try:
        blob = json.loads(path.read_text())
        return Manifest(str(blob["stage"]), str(blob["version"]), str(blob["key"]), str(blob["output"]))
    except (ValueError, KeyError, TypeError):
        return Manifest("?", "?", "", "")


def write_manifest(directory: Path, manifest: Manifest) -> None:
    tmp = directory / (MANIFEST + ".tmp")
    with tmp.open("w") as f:
        f.write(manifest.to_json())
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, directory / MANIFEST)


def clean_temporaries(parent: Path) -> None:
    """Remove what killed stages left: temporary stage directories."""
    if parent.is_dir():
        for p in parent.iterdir():
            if p.name.startswith(TMP_PREFIX) and p.is_dir():
                shutil.rmtree(p, ignore_errors=True)


@dataclass(frozen=True)
class StageState:
    done: bool
    note: str = ""  # one line when an existing output is replaced, e.g. one from an older version


def check_stage(target: Path, stage: str, key: str) -> StageState:
    """Whether `target` holds this stage's output for `key`, and if an existing output
    will be replaced, a line that says why (it is kept under a `.old-*` name first)."""
    if not target.exists():
        return StageState(False)
    manifest = read_manifest(target)
    if manifest is None:
        return StageState(False, f"{target} was not written by this pipeline (no {MANIFEST} manifest; an older schedcast?)")
    if manifest.version != __version__:
        return StageState(False, f"{target} was written by schedcast {manifest.version}, this is {__version__}")
    if manifest.key != key:
        return StageState(False)
    return StageState(True)


def _fsync_tree(root: Path) -> None:
    for path in root.rglob("*"):
        if path.is_file():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


def commit_stage(tmp: Path, target: Path, stage: str, key: str, keep_old: bool) -> Manifest:
    """Write the manifest into `tmp` and rename it to `target`. An existing `target`
    is moved aside first (kept as TARGET.old-VERSION when `keep_old`, else removed)."""
    manifest = Manifest(stage, __version__, key, tree_digest(tmp))
    _fsync_tree(tmp)
    write_manifest(tmp, manifest)
    if target.exists():
        if keep_old:
            old = read_manifest(target)
            aside = target.with_name(f"{target.name}.old-{old.version if old else 'unknown'}")
            n = 1
            while aside.exists():
                aside = target.with_name(f"{target.name}.old-{old.version if old else 'unknown'}-{n}")
                n += 1
            os.replace(target, aside)
        else:
            trash = target.with_name(TMP_PREFIX + target.name + ".replaced")
            shutil.rmtree(trash, ignore_errors=True)
            os.replace(target, trash)
            shutil.rmtree(trash, ignore_errors=True)
    os.replace(tmp, target)
    return manifest


def new_tmp(parent: Path, name: str) -> Path:
    tmp = parent / f"{TMP_PREFIX}{name}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    return tmp
