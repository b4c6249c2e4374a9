"""Reference rows beside the models: group oracles, defined exactly (docs/evaluate.md).

Both are computed on exactly the evaluated examples, for a grouping of examples
(``paper``: the example's (program, depth); ``state``: the example's (program,
abstract state before the next event)).

- **in-sample oracle**: in each group, predict the label that is most frequent *among
  the evaluated examples of that group*. On these examples no predictor whose output
  depends only on the group can score more: it is the ceiling for such predictors and
  for nothing else (a model that reads more of the prefix can pass it).
- **leave-one-run-out oracle**: predict the most frequent next kind of the example's
  group counted over the *other* runs of its program (the group's counts from the
  dataset, minus every contribution of the example's own run). It estimates how
  predictable the next event is from the group's frequencies in other runs; it uses
  runs of the test programs themselves, which no trained model has seen, so it is
  neither a ceiling nor a fair competitor. When no other run reached the group, it
  falls back to the train split's majority kind (the count of such examples is shown).

Ties between kinds are scored as the expected accuracy of breaking them at random
(credit 1/m when the label is among the m tied kinds), so no arbitrary kind order
favours a row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from schedcast.dataset.access import DatasetView

GROUP_COLUMN = {"paper": "paper_group", "state": "state_group"}
GROUPING_WORDS = {"paper": "(program, depth) groups", "state": "(program, abstract state) groups"}


@dataclass(frozen=True)
class Reference:
    name: str
    grouping: str  # paper | state
    kind: str  # in-sample | leave-one-run-out
    accuracy: float
    n: int
    fallback: int  # leave-one-run-out: examples whose group no other run reached
    meaning: str


def _tie_credit(counts: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Expected accuracy of predicting an argmax of each row of counts (random ties)."""
    best = counts.max(axis=1, keepdims=True)
    tied = counts == best
    return tied[np.arange(labels.size), labels] / tied.sum(axis=1)


def in_sample_oracle(groups: np.ndarray, labels: np.ndarray) -> float:
    """Mean over examples of the credit of their group's most frequent label,
    the group counted over these examples only."""
    if labels.size == 0:
        return float("nan")
    ids, inverse = np.unique(groups, return_inverse=True)
    counts = np.zeros((ids.size, 6), dtype=np.int64)
    np.add.at(counts, (inverse, labels), 1)
    return float(_tie_credit(counts[inverse], labels).mean())


def leave_one_run_out_oracle(
    group_counts: np.ndarray, own_counts: np.ndarray, labels: np.ndarray, fallback_kind: int
) -> tuple[float, int]:
    """group_counts (n, 6): each example's group counts over all runs; own_counts
    (n, 6): the contribution of the example's own run to that group."""
    if labels.size == 0:
        return float("nan"), 0
    rest = group_counts - own_counts
    if (rest < 0).any():
        raise ValueError("a run contributes more to a group than the group holds")
    empty = rest.sum(axis=1) == 0
    rest = rest.copy()
    rest[empty, fallback_kind] = 1
    return float(_tie_credit(rest, labels).mean()), int(empty.sum())


def _group_counts(view: DatasetView, grouping: str, group_ids: np.ndarray) -> np.ndarray:
    groups = view.groups.filter(pl.col("grouping") == grouping)
    index = {g: i for i, g in enumerate(groups["group_id"].to_list())}
    counts = np.array(groups["counts"].to_list(), dtype=np.int64).reshape(-1, 6)
    return counts[np.array([index[int(g)] for g in group_ids], dtype=np.int64)]


def _own_state_counts(view: DatasetView, rows: pl.DataFrame) -> np.ndarray:
    """For each example: how often its own run's positions in its state group were
    followed by each kind (every position of the run counts, as in the groups)."""
    keys = rows.select("run_key", "state_group").unique()
    per = (
        view.events_of_runs(keys["run_key"].unique().to_list())
        .join(keys, on=["run_key", "state_group"])
        .group_by(["run_key", "state_group", "kind"])
        .len()
    )
    lookup: dict[tuple[int, int], np.ndarray] = {}
    for run_key, group, kind, n in per.iter_rows():
        lookup.setdefault((run_key, group), np.zeros(6, dtype=np.int64))[kind] += n
    zero = np.zeros(6, dtype=np.int64)
    return np.array([lookup.get((r, g), zero) for r, g in rows.select("run_key", "state_group").iter_rows()]).reshape(-1, 6)


def reference_rows(view: DatasetView, rows: pl.DataFrame, labels: np.ndarray, fallback_kind: int) -> list[Reference]:
    """The four reference rows (two oracles x two groupings) on these examples."""
    out: list[Reference] = []
    for grouping in ("paper", "state"):
        column = GROUP_COLUMN[grouping]
        if grouping == "paper" and (rows[column] < 0).any():
            continue  # the paper grouping exists only for the paper protocol
        gids = rows[column].to_numpy()
        words = GROUPING_WORDS[grouping]
        out.append(
            Reference(
                f"in-sample oracle, {grouping} groups", grouping, "in-sample", in_sample_oracle(gids, labels), labels.size, 0,
                f"ceiling, on these examples, for a predictor that sees only the {words[:-7]}; not for models that read more",
            )
        )
        counts = _group_counts(view, grouping, gids)
        if grouping == "paper":
            own = np.zeros_like(counts)
            own[np.arange(labels.size), labels] = 1  # one example per run and depth
        else:
            own = _own_state_counts(view, rows)
        acc, fallback = leave_one_run_out_oracle(counts, own, labels, fallback_kind)
        out.append(
            Reference(
                f"leave-one-run-out oracle, {grouping} groups", grouping, "leave-one-run-out", acc, labels.size, fallback,
                "the most frequent next kind of the example's group in the program's other runs (test runs no model saw); "
                "neither a ceiling nor a fair competitor",
            )
        )
    return out
