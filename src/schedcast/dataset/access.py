"""Read a built dataset back: examples joined with their runs, programs and prefixes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import polars as pl

from schedcast.dataset import schema
from schedcast.dataset.prompts import PromptEvent, PromptExample, goroutine_states


def program_source(sources_json: str) -> str:
    """The program's files, each under a `// file: NAME` header, in name order."""
    files = json.loads(sources_json)
    return "\n".join(f"// file: {name}\n{text.rstrip()}" for name, text in sorted(files.items()))


class DatasetView:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.programs = pl.from_arrow(schema.read(self.root / "programs.parquet"))
        self.runs = pl.from_arrow(schema.read(self.root / "runs.parquet"))
        self.examples = pl.from_arrow(schema.read(self.root / "examples.parquet"))
        self.groups = pl.from_arrow(schema.read(self.root / "groups.parquet"))
        events = pl.from_arrow(schema.read(self.root / "events.parquet")).sort(["run_key", "seq"])
        # Per-run slices of the events table, by run_key (events are stored once).
        keys = events["run_key"].to_numpy()
        bounds = np.flatnonzero(np.diff(keys)) + 1
        starts = np.concatenate([[0], bounds]) if keys.size else np.array([], dtype=np.int64)
        ends = np.concatenate([bounds, [keys.size]]) if keys.size else np.array([], dtype=np.int64)
        self._span = {int(keys[s]): (int(s), int(e)) for s, e in zip(starts, ends)}
        self._kind = events["kind"].to_numpy()
        self._allowed = events["allowed"].to_numpy()
        self._g = events["g"].to_numpy()
        self._events = events.select("run_key", "seq", "kind", "state_group")
        # Reasons and sites stay Arrow-backed: only prompts need them, a prefix at a time.
        self._reason = events["reason"].cast(pl.Utf8)
        self._site = events["site"].cast(pl.Utf8)
        self._program_of_run = dict(zip(self.runs["run_key"].to_list(), self.runs["program_id"].cast(pl.Utf8).to_list()))
        self._source = {
            pid: program_source(src) for pid, src in zip(self.programs["program_id"].to_list(), self.programs["sources"].to_list())
        }

    def model_examples(self, split: str, protocol: str = "paper"):  # type: ignore[no-untyped-def]
        """The examples of a split with a next event, as the predictors' `Examples`
        (prefix kinds are views into the events column: nothing is copied)."""
        from schedcast.models.base import Examples

        rows = self.examples.filter((pl.col("split") == split) & (pl.col("protocol") == protocol) & (pl.col("label") >= 0))
        run_keys = rows["run_key"].to_numpy()
        ks = rows["k"].to_numpy()
        starts = np.array([self._span[int(r)][0] for r in run_keys], dtype=np.int64)
        history = [self._kind[s : s + k] for s, k in zip(starts, ks)]
        bits = self._allowed[starts + ks] if run_keys.size else np.zeros(0, dtype=np.uint8)
        allowed = ((bits[:, None] >> np.arange(6)) & 1).astype(bool) if run_keys.size else np.zeros((0, 6), dtype=bool)
        programs = np.array([self._program_of_run[int(r)] for r in run_keys], dtype=object)
        labels, label_gs = rows["label"].to_list(), rows["label_g"].to_list()

        def prompt(i: int) -> PromptExample:
            return self.prompt_example(int(run_keys[i]), int(ks[i]), labels[i], label_gs[i])

        return Examples(history, rows["label"].to_numpy().astype(np.int64), programs, allowed, prompt), rows

    def events_of_runs(self, run_keys: list[int]) -> pl.DataFrame:
        """run_key, seq, kind and state_group of every event of these runs."""
        return self._events.filter(pl.col("run_key").is_in(run_keys))

    def program_of_run(self, run_key: int) -> str:
        return self._program_of_run[run_key]

    def source_of_program(self, program_id: str) -> str:
        return self._source[program_id]

    def run_events(self, run_key: int) -> tuple[np.ndarray, np.ndarray]:
        """Kinds and canonical goroutines of a run's events, as int64 arrays."""
        start, end = self._span[run_key]
        return self._kind[start:end].astype(np.int64), self._g[start:end].astype(np.int64)

    def prefix(self, run_key: int, k: int) -> list[PromptEvent]:
        start, _ = self._span[run_key]
        reasons = self._reason.slice(start, k).to_list()
        sites = self._site.slice(start, k).to_list()
        return [
            PromptEvent(int(kind), int(g), reason or "", site or "")
            for kind, g, reason, site in zip(self._kind[start : start + k], self._g[start : start + k], reasons, sites)
        ]

    def prompt_example(self, run_key: int, k: int, label: int, label_g: int) -> PromptExample:
        events = self.prefix(run_key, k)
        return PromptExample(
            source=self._source[self._program_of_run[run_key]],
            events=events,
            states=goroutine_states(events),
            target_kind=label,
            target_g=label_g,
        )

    def iter_prompt_examples(self, examples: pl.DataFrame) -> Iterator[tuple[dict, PromptExample]]:
        for row in examples.filter(pl.col("label") >= 0).iter_rows(named=True):
            yield row, self.prompt_example(row["run_key"], row["k"], row["label"], row["label_g"])
