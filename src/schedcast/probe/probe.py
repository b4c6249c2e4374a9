"""The multi-step coherence probe (docs/probe.md).

From real prefixes of held-out runs (the paper protocol's 25/50/75 % positions),
each predictor is rolled forward H steps, S samples per prefix, feeding its own moves
back, in two modes:

- free: a move is sampled from the predictor's distribution; the scheduler rules
  (probe.rollout.SchedState, the FSM's rules) only check it. The rollout stops at the
  first violation; survival = valid steps before it (H when there is none).
- constrained: the mass of moves the rules do not allow is removed and the rest
  renormalised before sampling.

Predictors that implement `predict_moves` (the MovePredictor protocol below) choose
the goroutine themselves. A kind-only predictor (the baselines) gets the documented
rule KIND_ONLY_RULE: sample a kind from predict_proba (in constrained mode masked to
the allowed kinds), then a goroutine uniformly among those the rules allow to make it
(free mode: none can -> a violation).

Reported per model and mode: survival (mean, median, distribution), per-step kind
distribution and entropy (bits), entropy per program class, and k-step fidelity: the
total variation between the model's distribution of the kind at step k (the mean of
its per-step kind distributions over the S samples still alive) and the kinds at
step k of the real continuations from the same state (every position of the split's
runs of that program in the same abstract-state group), k = 1..H, with the number of
real continuations behind each point.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
import polars as pl

from schedcast.dataset.snapshots import WINDOW
from schedcast.dataset.splits import SPLITS
from schedcast.models.base import KIND_NAMES, N_KINDS, Examples, Predictor
from schedcast.models.scoring import bootstrap_by_program
from schedcast.probe.rollout import CREATE, SchedState
from schedcast.terminal import track

MAX_HORIZON = 50
MODES = ("free", "constrained")
KIND_ONLY_RULE = "kind from predict_proba, goroutine uniform among those the FSM allows for it"
MOVES_RULE = "predict_moves"
CLASSES = ("leak", "deadlock", "race", "clean", "other")


class ProbeError(ValueError):
    """Input the probe cannot use; one line says what."""


@runtime_checkable
class MovePredictor(Protocol):
    """A predictor that names the goroutine too: for each example, the moves it
    considers, as an (m, 2) array of (goroutine, kind) in the dataset's terms (a
    GoCreate names the new goroutine), and their probabilities (m,), whose kind
    marginal is predict_proba. Goroutine 0 = one the prefix has not shown."""

    def predict_moves(self, examples: Examples) -> list[tuple[np.ndarray, np.ndarray]]: ...


def program_class(expected: Sequence[str]) -> str:
    """leak > deadlock > race > clean (expected "ok") > other, from programs.expected."""
    exp = set(expected or [])
    for cls, names in (("leak", {"leak"}), ("deadlock", {"deadlock"}), ("race", {"race"}), ("clean", {"ok"})):
        if exp & names:
            return cls
    return "other"


@dataclass
class Prefix:
    run_key: int
    k: int
    depth: int
    program: str
    state_group: int
    state: SchedState  # replayed up to k


@dataclass
class ModelResult:
    model: str
    mode: str
    goroutine_rule: str
    survival: np.ndarray  # (rollouts,) valid steps before the first violation (H: none)
    ended: int  # rollouts stopped because no move was allowed
    fallback_steps: int  # constrained steps where the model put no mass on an allowed move
    violations: dict[str, int]  # first-violation reasons (kind of the move), free mode
    step_kind_counts: np.ndarray  # (H, 6) sampled kinds per step
    step_entropy: np.ndarray  # (H,) mean entropy (bits) of the kind distribution at each step
    step_alive: np.ndarray  # (H,) rollouts that made step k
    tv: np.ndarray  # (H,) mean TV over prefixes with a real continuation and a live sample
    tv_prefixes: np.ndarray  # (H,) prefixes behind each TV point
    real_continuations: np.ndarray  # (H,) real continuations behind each TV point
    entropy_by_class: dict[str, tuple[float, int]]  # class -> (mean step entropy bits, steps)
    steps_per_second: float
    tv_by_prefix: np.ndarray = field(repr=False, default_factory=lambda: np.zeros((0, 0)))  # (prefixes, H), NaN: no point
    moves: list[list[tuple[int, int]]] = field(repr=False, default_factory=list)  # per rollout


@dataclass
class ProbeResult:
    split: str
    horizon: int
    samples: int
    prefixes: int
    programs: int
    runs: int
    inconsistent_prefixes: int  # prefixes whose replay met an event the rules refuse (syscalls, left-out events)
    results: list[ModelResult]
    real_tv: np.ndarray  # (H,) TV of S sampled real continuations against their group: the sampling-noise floor
    prefix_rows: list[Prefix] = field(repr=False, default_factory=list)


def _rate(steps_per_second: float) -> str:
    """Rollout steps per second; the pipeline keeps wall-clock figures out of its tables (NaN: see timings.json)."""
    return "–" if np.isnan(steps_per_second) else f"{steps_per_second:,.0f}"


def _entropy_bits(p: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.sum(np.where(p > 0, p * np.log2(np.where(p > 0, p, 1.0)), 0.0), axis=-1)


def select_prefixes(view, split: str = "test", runs_per_program: int | None = 3) -> list[Prefix]:  # type: ignore[no-untyped-def]
    """The paper-protocol positions of the split's runs (the first `runs_per_program`
    runs of each program by run index; None = all), each with its replayed state."""
    rows = view.examples.filter((pl.col("split") == split) & (pl.col("protocol") == "paper") & (pl.col("label") >= 0))
    if rows.height == 0:
        present = view.examples.filter(pl.col("label") >= 0)["split"].unique().to_list()
        names = sorted(map(str, present))
        if split not in SPLITS:
            raise ProbeError(f"unknown split {split!r}: the splits are {', '.join(SPLITS)} (val: validation); this dataset has {names}")
        raise ProbeError(f"the dataset has no {split} (held-out) examples with a next event; splits present: {names}")
    runs = view.runs.select("run_key", pl.col("program_id").cast(pl.Utf8), "run_index", "gomaxprocs")
    rows = rows.join(runs, on="run_key").sort(["program_id", "run_index", "k"])
    if runs_per_program is not None:
        chosen = rows.select("program_id", "run_index").unique().sort(["program_id", "run_index"])
        chosen = chosen.group_by("program_id", maintain_order=True).head(runs_per_program)
        rows = rows.join(chosen, on=["program_id", "run_index"]).sort(["program_id", "run_index", "k"])
    structure = view.examples_at(rows["run_key"].to_numpy(), rows["k"].to_numpy()).structure
    prefixes: list[Prefix] = []
    for (run_key,), part in rows.group_by("run_key", maintain_order=True):
        run = structure.runs[int(run_key)]  # events 0..(largest k)-1
        groups = view.state_group_of(np.full(part.height, run_key), part["k"].to_numpy())
        state = SchedState(int(part["gomaxprocs"][0]))
        done = 0
        for row, sg in zip(part.iter_rows(named=True), groups.tolist()):
            state.replay(run.kind, run.g, run.actor, done, row["k"])
            done = row["k"]
            prefixes.append(Prefix(int(run_key), int(row["k"]), int(row["depth_pct"]), row["program_id"], int(sg), state.copy()))
    return prefixes


class _Continuations:
    """Real continuations from each (program, state group) among the split's runs."""

    def __init__(self, view, programs: set[str], horizon: int, wanted: set[int]) -> None:  # type: ignore[no-untyped-def]
        self.horizon = horizon
        runs = view.runs.filter(pl.col("program_id").cast(pl.Utf8).is_in(list(programs)))["run_key"].to_list()
        events = view.events_of_runs(runs).sort(["run_key", "seq"])
        self.by_group: dict[int, list[np.ndarray]] = {}
        wanted_array = np.array(sorted(wanted), dtype=np.int64)
        for (_,), run in events.group_by("run_key", maintain_order=True):
            kind = run["kind"].to_numpy().astype(np.int64)
            groups = run["state_group"].to_numpy()
            padded = np.concatenate([kind, np.full(horizon, -1, dtype=np.int64)])
            for p in np.flatnonzero(np.isin(groups, wanted_array)).tolist():  # only the prefixes' groups
                self.by_group.setdefault(int(groups[p]), []).append(padded[p : p + horizon])

    def distribution(self, state_group: int) -> tuple[np.ndarray, np.ndarray]:
        """(H, 6) kind distribution of step k among the continuations that reach it,
        and (H,) how many reach it."""
        conts = self.by_group.get(state_group, [])
        counts = np.zeros((self.horizon, N_KINDS))
        if conts:
            a = np.stack(conts)
            for k in range(self.horizon):
                col = a[:, k]
                counts[k] = np.bincount(col[col >= 0], minlength=N_KINDS)
        n = counts.sum(axis=1)
        return counts / np.maximum(n, 1)[:, None], n

    def sample(self, state_group: int, rng: np.random.Generator, s: int) -> np.ndarray:
        conts = self.by_group.get(state_group, [])
        if not conts:
            return np.full((s, self.horizon), -1, dtype=np.int64)
        return np.stack([conts[int(i)] for i in rng.integers(len(conts), size=s)])


def _extrapolated_times(time: np.ndarray, steps: int) -> np.ndarray:
    """Times for `steps` rolled-out events after a real prefix: one every mean gap of its
    last WINDOW events, the pace the structural model's time.gap.recent reads (a rollout
    has no clock of its own)."""
    if time.size == 0:
        return np.zeros(steps, dtype=np.int64)
    r = min(WINDOW - 1, time.size - 1)
    gap = (int(time[-1]) - int(time[-1 - r])) / r if r > 0 else 0.0
    return (int(time[-1]) + np.round(gap * np.arange(1, steps + 1))).astype(np.int64)


def _rollout_examples(base, prefixes: list[Prefix], ext: list[tuple[list[int], list[int], list[int]]], states: list[SchedState]) -> Examples:  # type: ignore[no-untyped-def]
    """Examples for the current rollout prefixes: the real prefix plus the rollout's
    own events (no reason, no site), with the rules' allowed kinds."""
    from schedcast.dataset.access import ExampleStructure, RunPrefix

    runs = {}
    history = []
    for i, (p, (kinds, gs, actors)) in enumerate(zip(prefixes, ext)):
        real = base.runs[p.run_key]
        k = p.k
        kind = np.concatenate([real.kind[:k], np.array(kinds, dtype=real.kind.dtype)])
        runs[i] = RunPrefix(
            kind,
            np.concatenate([real.g[:k], np.array(gs, dtype=real.g.dtype)]),
            np.concatenate([real.actor[:k], np.array(actors, dtype=real.actor.dtype)]),
            np.concatenate([real.reason[:k], np.full(len(kinds), -1, dtype=real.reason.dtype)]),
            np.concatenate([real.site[:k], np.full(len(kinds), -1, dtype=real.site.dtype)]),
            None if real.actor_site is None
            else np.concatenate([real.actor_site[:k], np.full(len(kinds), -1, dtype=real.actor_site.dtype)]),
            None if real.time is None else np.concatenate([real.time[:k], _extrapolated_times(real.time[:k], len(kinds))]),
        )
        history.append(kind)
    n = len(prefixes)
    structure = ExampleStructure(
        np.arange(n, dtype=np.int64), np.array([r.kind.size for r in runs.values()], dtype=np.int64), runs,
        {i: p.program for i, p in enumerate(prefixes)}, base.sources, base.reasons, base.sites,
    )
    allowed = np.stack([s.allowed_kinds() for s in states]) if states else np.zeros((0, N_KINDS), dtype=bool)
    return Examples(history, np.full(n, -1, dtype=np.int64), np.array([p.program for p in prefixes], dtype=object), allowed, structure)


def _model_name(model: Predictor) -> str:
    return str(getattr(model, "display_name", None) or getattr(model, "label", None) or model.name)


def roll_out(
    model: Predictor, base, prefixes: list[Prefix], mode: str, horizon: int, samples: int,  # type: ignore[no-untyped-def]
    continuations: _Continuations, classes: dict[str, str], seed: int = 0,
) -> ModelResult:
    """Roll `model` forward from every prefix, `samples` times each."""
    if mode not in MODES:
        raise ProbeError(f"unknown mode {mode!r}; choose from {', '.join(MODES)}")
    rng = np.random.default_rng(seed)
    uses_moves = isinstance(model, MovePredictor)
    roll_prefixes = [p for p in prefixes for _ in range(samples)]
    states = [p.state.copy() for p in roll_prefixes]
    ext: list[tuple[list[int], list[int], list[int]]] = [([], [], []) for _ in roll_prefixes]
    n = len(roll_prefixes)
    alive = np.ones(n, dtype=bool)
    survival = np.full(n, horizon, dtype=np.int64)
    ended = 0
    fallback = 0
    violations: dict[str, int] = {}
    step_counts = np.zeros((horizon, N_KINDS), dtype=np.int64)
    step_entropy = np.zeros(horizon)
    step_alive = np.zeros(horizon, dtype=np.int64)
    dists = np.full((n, horizon, N_KINDS), np.nan)  # the model's kind distribution at each step
    moves_taken: list[list[tuple[int, int]]] = [[] for _ in range(n)]
    started = time.monotonic()
    steps = 0
    for step in track(range(horizon), "probe", horizon, "steps"):
        live = np.flatnonzero(alive)
        # A state with no allowed move (every goroutine ended or blocked and no P free to create): the rollout ends.
        no_move = [i for i in live.tolist() if not states[i].allowed_kinds().any()]
        for i in no_move:
            alive[i] = False
            survival[i] = step
            ended += 1
        live = np.flatnonzero(alive)
        if live.size == 0:
            break
        ex = _rollout_examples(base, [roll_prefixes[i] for i in live], [ext[i] for i in live], [states[i] for i in live])
        move_lists = model.predict_moves(ex) if uses_moves else None  # type: ignore[attr-defined]
        q = None if uses_moves else np.asarray(model.predict_proba(ex), dtype=np.float64)
        for j, i in enumerate(live.tolist()):
            st = states[i]
            allowed = ex.allowed[j]  # type: ignore[index]
            if move_lists is not None:
                mv, mp = move_lists[j]
                mp = np.asarray(mp, dtype=np.float64)
                if mode == "constrained" and mv.size:
                    mp = np.where(st.check_moves(mv), mp, 0.0)
                kind_p = np.bincount(mv[:, 1], weights=mp, minlength=N_KINDS) if mv.size else np.zeros(N_KINDS)
                if kind_p.sum() <= 0:
                    if mode == "free":  # nothing to sample: the model names no move at all
                        survival[i] = step
                        alive[i] = False
                        violations["no move named"] = violations.get("no move named", 0) + 1
                        continue
                    fallback += 1
                    kind = int(rng.choice(np.flatnonzero(allowed)))
                    cands = st.candidates(kind)
                    g = 0 if cands is None else cands.choice(rng)
                    kind_p = allowed / allowed.sum()
                else:
                    m = int(rng.choice(mp.size, p=mp / mp.sum()))
                    g, kind = int(mv[m, 0]), int(mv[m, 1])
                    kind_p = kind_p / kind_p.sum()
            else:
                assert q is not None
                p = q[j].copy()
                if mode == "constrained":
                    p = p * allowed
                    if p.sum() <= 0:
                        fallback += 1
                        p = allowed.astype(np.float64)
                p = p / p.sum()
                kind_p = p
                kind = int(rng.choice(N_KINDS, p=p))
                cands = st.candidates(kind)
                if cands is None:
                    g = 0
                elif len(cands):
                    g = cands.choice(rng)
                else:
                    g = -1  # no goroutine can make this kind
            dists[i, step] = kind_p
            step_entropy[step] += float(_entropy_bits(kind_p))
            step_alive[step] += 1
            step_counts[step, kind] += 1
            why = "no goroutine can make it" if g == -1 else st.check(g, kind)
            if why is not None:
                # Free mode (constrained moves are checked above: cannot happen there).
                survival[i] = step
                alive[i] = False
                key = f"{KIND_NAMES[kind]}: " + why.split(";")[0].split(":")[0] if g != -1 else f"{KIND_NAMES[kind]}: no goroutine can make it"
                key = key if len(key) < 80 else key[:77] + "..."
                violations[_violation_class(kind, why)] = violations.get(_violation_class(kind, why), 0) + 1
                continue
            actor = st.creator() if kind == CREATE else (g if kind in (0, 2, 3) else 0)
            new_g = st.apply(g, kind)
            ext[i][0].append(kind)
            ext[i][1].append(new_g)
            ext[i][2].append(actor)
            moves_taken[i].append((new_g if kind == CREATE else g, kind))
            steps += 1
    seconds = time.monotonic() - started
    step_entropy = np.divide(step_entropy, np.maximum(step_alive, 1))

    # k-step fidelity per prefix: the mean of the live samples' distributions at step k.
    tv = np.zeros(horizon)
    tv_n = np.zeros(horizon, dtype=np.int64)
    real_n = np.zeros(horizon, dtype=np.int64)
    by_class: dict[str, list[float]] = {}
    tv_by_prefix = np.full((len(prefixes), horizon), np.nan)
    for pi, p in enumerate(prefixes):
        block = dists[pi * samples : (pi + 1) * samples]  # (S, H, 6)
        real, count = continuations.distribution(p.state_group)
        cls = classes.get(p.program, "other")
        ent = _entropy_bits(block)  # (S, H), NaN rows give 0
        live_steps = ~np.isnan(block[..., 0])
        by_class.setdefault(cls, []).extend(ent[live_steps].tolist())
        for k in range(horizon):
            live_k = live_steps[:, k]
            if count[k] == 0 or not live_k.any():
                continue
            q_k = block[live_k, k].mean(axis=0)
            tv_by_prefix[pi, k] = 0.5 * np.abs(q_k - real[k]).sum()
            tv[k] += tv_by_prefix[pi, k]
            tv_n[k] += 1
            real_n[k] += int(count[k])
    tv = np.where(tv_n > 0, tv / np.maximum(tv_n, 1), np.nan)
    return ModelResult(
        model=_model_name(model), mode=mode, goroutine_rule=MOVES_RULE if uses_moves else KIND_ONLY_RULE,
        survival=survival, ended=ended, fallback_steps=fallback, violations=violations,
        step_kind_counts=step_counts, step_entropy=step_entropy, step_alive=step_alive,
        tv=tv, tv_prefixes=tv_n, real_continuations=real_n,
        entropy_by_class={c: (float(np.mean(v)) if v else float("nan"), len(v)) for c, v in sorted(by_class.items())},
        steps_per_second=steps / seconds if seconds > 0 else float("nan"), tv_by_prefix=tv_by_prefix, moves=moves_taken,
    )


def _violation_class(kind: int, why: str) -> str:
    """A short, countable name for a violation."""
    if "not shown" in why:
        what = "a goroutine the prefix has not shown"
    elif "no goroutine can make" in why:
        what = "no goroutine can make it"
    elif "already running" in why:
        what = "no free P"
    elif "needs a" in why:
        what = "goroutine " + why.rsplit(" is ", 1)[-1]
    else:
        what = why
    return f"{KIND_NAMES[kind]}: {what}"


def real_noise_floor(prefixes: list[Prefix], continuations: _Continuations, horizon: int, samples: int, seed: int = 0) -> np.ndarray:
    """TV at each step between `samples` real continuations drawn from a prefix's own
    state group and that group's whole distribution: what a perfect simulator scores
    with this many samples (0 as samples grow)."""
    rng = np.random.default_rng(seed)
    tv = np.zeros(horizon)
    n = np.zeros(horizon, dtype=np.int64)
    for p in prefixes:
        real, count = continuations.distribution(p.state_group)
        drawn = continuations.sample(p.state_group, rng, samples)
        for k in range(horizon):
            col = drawn[:, k]
            col = col[col >= 0]
            if count[k] == 0 or col.size == 0:
                continue
            q = np.bincount(col, minlength=N_KINDS) / col.size
            tv[k] += 0.5 * np.abs(q - real[k]).sum()
            n[k] += 1
    return np.where(n > 0, tv / np.maximum(n, 1), np.nan)


def probe(
    models: Sequence[Predictor], view, split: str = "test", horizon: int = 15, samples: int = 3,  # type: ignore[no-untyped-def]
    modes: Sequence[str] = MODES, runs_per_program: int | None = 3, seed: int = 0,
) -> ProbeResult:
    if not 1 <= horizon <= MAX_HORIZON:
        raise ProbeError(f"--horizon must be between 1 and {MAX_HORIZON} (got {horizon})")
    if samples < 1:
        raise ProbeError(f"--samples must be at least 1 (got {samples})")
    if runs_per_program is not None and runs_per_program < 1:
        raise ProbeError(f"--runs-per-program must be at least 1 (got {runs_per_program})")
    for mode in modes:
        if mode not in MODES:
            raise ProbeError(f"unknown mode {mode!r}; choose from {', '.join(MODES)}")
    if not models:
        raise ProbeError("no models to probe")
    prefixes = select_prefixes(view, split, runs_per_program)
    programs = {p.program for p in prefixes}
    continuations = _Continuations(view, programs, horizon, {p.state_group for p in prefixes})
    base = view.examples_at(np.array([p.run_key for p in prefixes]), np.array([p.k for p in prefixes])).structure
    classes = {
        pid: program_class(exp)
        for pid, exp in zip(view.programs["program_id"].to_list(), view.programs["expected"].to_list())
    }
    results = [
        roll_out(model, base, prefixes, mode, horizon, samples, continuations, classes, seed)
        for model in models
        for mode in modes
    ]
    return ProbeResult(
        split=split, horizon=horizon, samples=samples, prefixes=len(prefixes), programs=len(programs),
        runs=len({p.run_key for p in prefixes}), inconsistent_prefixes=sum(1 for p in prefixes if p.state.inconsistent),
        results=results, real_tv=real_noise_floor(prefixes, continuations, horizon, samples, seed), prefix_rows=prefixes,
    )


# -- tables ------------------------------------------------------------------------
def summary_rows(result: ProbeResult) -> list[dict[str, Any]]:
    rows = []
    for r in result.results:
        rows.append({
            "model": r.model, "mode": r.mode, "goroutine_rule": r.goroutine_rule, "rollouts": int(r.survival.size),
            "survival_mean": float(r.survival.mean()) if r.survival.size else float("nan"),
            "survival_median": float(np.median(r.survival)) if r.survival.size else float("nan"),
            "full_horizon_share": float(np.mean(r.survival == result.horizon)) if r.survival.size else float("nan"),
            "ended_no_move": r.ended, "fallback_steps": r.fallback_steps,
            "mean_tv": float(np.nanmean(r.tv)) if np.any(~np.isnan(r.tv)) else float("nan"),
            "tv_step1": float(r.tv[0]), "mean_step_entropy_bits": float(np.average(r.step_entropy, weights=np.maximum(r.step_alive, 0)) if r.step_alive.sum() else float("nan")),
            "steps_per_second": r.steps_per_second,
            "violations": "; ".join(f"{k} ({v})" for k, v in sorted(r.violations.items(), key=lambda kv: -kv[1])),
        })
    return rows


def curve_rows(result: ProbeResult) -> list[dict[str, Any]]:
    """Per model, mode and step k: TV, prefixes and real continuations behind it,
    rollouts alive, mean entropy, kind shares of the sampled moves."""
    rows = []
    for r in result.results:
        for k in range(result.horizon):
            total = r.step_kind_counts[k].sum()
            rows.append({
                "model": r.model, "mode": r.mode, "k": k + 1, "tv": float(r.tv[k]), "tv_prefixes": int(r.tv_prefixes[k]),
                "real_continuations": int(r.real_continuations[k]), "alive": int(r.step_alive[k]),
                "surviving_share": float(np.mean(r.survival > k)) if r.survival.size else float("nan"),
                "entropy_bits": float(r.step_entropy[k]),
                **{f"share_{name}": (float(r.step_kind_counts[k, j] / total) if total else float("nan")) for j, name in enumerate(KIND_NAMES)},
            })
    for k in range(result.horizon):
        rows.append({"model": "real continuations (S samples)", "mode": "reference", "k": k + 1, "tv": float(result.real_tv[k])})
    return rows


def mean_tv_over(tv_by_prefix: np.ndarray, rows: np.ndarray) -> float:
    """The summary's "mean TV k=1..H" over these prefix rows (a row drawn twice counts
    twice): per step the mean over the rows with a point there, then the mean over steps."""
    block = tv_by_prefix[rows]
    has = ~np.isnan(block)
    n = has.sum(axis=0)
    per_step = np.where(n > 0, np.where(has, block, 0.0).sum(axis=0) / np.maximum(n, 1), np.nan)
    return float(np.nanmean(per_step)) if np.any(n > 0) else float("nan")


def tv_difference_rows(result: ProbeResult, n_boot: int = 1000, seed: int = 0) -> list[dict[str, Any]]:
    """Per mode and pair of models: mean TV k=1..H of the first minus the second, with a
    paired program bootstrap (each replicate resamples programs once, with all their
    prefixes, and scores both models on that draw: models.scoring.bootstrap_by_program)."""
    from itertools import combinations

    if not result.prefix_rows:
        return []
    programs = np.array([p.program for p in result.prefix_rows], dtype=object)
    rows = []
    modes = list(dict.fromkeys(r.mode for r in result.results))
    for mode in modes:
        for a, b in combinations([r for r in result.results if r.mode == mode], 2):
            if a.tv_by_prefix.shape != (programs.size, result.horizon) or b.tv_by_prefix.shape != a.tv_by_prefix.shape:
                continue

            def diff(idx: np.ndarray, a: ModelResult = a, b: ModelResult = b) -> float:
                return mean_tv_over(a.tv_by_prefix, idx) - mean_tv_over(b.tv_by_prefix, idx)

            iv = bootstrap_by_program(diff, programs, n_boot, seed)
            rows.append({"mode": mode, "model_a": a.model, "model_b": b.model, "difference": iv.estimate, "low": iv.low, "high": iv.high, "replicates": n_boot})
    return rows


def program_rows(result: ProbeResult) -> list[dict[str, Any]]:
    """Per model, mode and program: the mean TV k=1..H over that program's prefixes
    (`mean_tv_over`), so a reader sees which programs a difference comes from."""
    if not result.prefix_rows:
        return []
    programs = np.array([p.program for p in result.prefix_rows], dtype=object)
    names = sorted(set(programs.tolist()))
    rows = []
    for r in result.results:
        if r.tv_by_prefix.shape[0] != programs.size:
            continue
        for name in names:
            idx = np.flatnonzero(programs == name)
            rows.append({"model": r.model, "mode": r.mode, "program": name, "prefixes": int(idx.size), "mean_tv": mean_tv_over(r.tv_by_prefix, idx)})
    return rows


def survival_rows(result: ProbeResult) -> list[dict[str, Any]]:
    rows = []
    for r in result.results:
        counts = np.bincount(r.survival, minlength=result.horizon + 1)
        for s, c in enumerate(counts.tolist()):
            rows.append({"model": r.model, "mode": r.mode, "survival": s, "rollouts": c})
    return rows


def class_rows(result: ProbeResult) -> list[dict[str, Any]]:
    return [
        {"model": r.model, "mode": r.mode, "class": cls, "mean_entropy_bits": ent, "steps": n}
        for r in result.results
        for cls, (ent, n) in r.entropy_by_class.items()
    ]


def results_markdown(result: ProbeResult, command: str) -> str:
    """The results page's probe section: summary, k-step TV and survival per model."""
    rows = summary_rows(result)
    lines = [
        "## Multi-step coherence probe",
        "",
        f"`{command}`: {result.prefixes} prefixes (paper-protocol 25/50/75 % positions of {result.runs} {result.split} runs, "
        f"{result.programs} programs) x {result.samples} samples x {result.horizon} steps. Goroutine choice: "
        + "; ".join(sorted({f"{r['model']}: {r['goroutine_rule']}" for r in rows if r['mode'] == rows[0]['mode']})) + ".",
        f"{result.inconsistent_prefixes} prefixes replay with an event the rules refuse from the six-kind state (docs/probe.md).",
        "",
        "| model | mode | survival mean | median | full horizon | mean TV k=1..H | TV k=1 | entropy (bits) | steps/s |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['mode']} | {r['survival_mean']:.2f} | {r['survival_median']:.0f} | {100 * r['full_horizon_share']:.1f} % "
            f"| {r['mean_tv']:.3f} | {r['tv_step1']:.3f} | {r['mean_step_entropy_bits']:.3f} | {_rate(r['steps_per_second'])} |"
        )
    floor = result.real_tv
    lines += ["", f"Sampling-noise floor (real continuations, {result.samples} samples, against their group): mean TV {np.nanmean(floor):.3f}, k=1 {floor[0]:.3f}.", ""]
    header = "| k | " + " | ".join(f"{r.model} ({r.mode})" for r in result.results) + " | real continuations |"
    lines += ["### k-step TV (real continuations behind each point)", "", header, "|---:|" + "---:|" * (len(result.results) + 1)]
    for k in range(result.horizon):
        cells = [f"{r.tv[k]:.3f}" for r in result.results]
        lines.append(f"| {k + 1} | " + " | ".join(cells) + f" | {int(max(r.real_continuations[k] for r in result.results)):,} |")
    diffs = tv_difference_rows(result)
    if diffs:
        lines += [
            "", "### Mean TV differences (paired program bootstrap, 95 %)", "",
            "Negative: the first model's rollouts are closer to the real continuations.", "",
            "| mode | models | mean TV difference [95 % CI] |", "|---|---|---|",
        ]
        for d in diffs:
            lines.append(f"| {d['mode']} | {d['model_a']} − {d['model_b']} | {d['difference']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}] |")
    lines += ["", "### Entropy per program class (bits, mean over rollout steps)", "", "| model | mode | class | entropy | steps |", "|---|---|---|---:|---:|"]
    for row in class_rows(result):
        lines.append(f"| {row['model']} | {row['mode']} | {row['class']} | {row['mean_entropy_bits']:.3f} | {row['steps']:,} |")
    violations = [f"- {r['model']}: {r['violations']}" for r in rows if r["violations"]]
    if violations:
        lines += ["", "First violations in free mode:", "", *violations]
    return "\n".join(lines) + "\n"
