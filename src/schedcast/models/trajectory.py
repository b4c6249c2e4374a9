"""The trajectory model: a small causal transformer over event tokens, trained on every
position of every training run, whose output is a distribution over the
(goroutine, kind) moves the scheduler allows next.

Input (what the model reads before event k; never the run's length):
- the last `window` events of the prefix, one token each: kind, goroutine *role*
  (canonical goroutine renamed by first appearance inside the window), block reason
  (the training runs' most common reasons; a reason training never saw reads as none,
  like the rollout's own events, which carry none), site role
  (the top user frame renamed by first appearance inside the window), and the
  goroutine's status now (replayed from the whole prefix);
- one query token at the end carrying the counts of running, runnable and blocked
  goroutines (0, 1, 2+) and the prefix length (log2 buckets up to 32+). Both are
  capped where the training programs stop (a handful of goroutines, tens of events):
  a held-out kernel with thousands of goroutines must not meet embeddings that were
  never trained. For the same reason roles and site roles beyond the sixth share one
  embedding (the pointer below still tells every role of the window apart).

Output: log-probabilities over moves laid out as [GoCreate] + for each of GoBlock,
GoEnd, GoSched, GoStart, GoUnblock: one slot per role of the window and one "other"
slot (a goroutine outside the window, the probability split evenly among those that
can make the move). By default (`factorized`) p(move) = p(kind) * p(slot | kind): the
kind from the structural model's log-probabilities with a learned weight per kind (the
structural prior, read out of fold while training; `kind_input="none"`), the slot from
a pointer score between the query and the role's last token in the window. Masked to
the moves the replayed goroutine statuses allow (running goroutines block, end, yield;
runnable ones start; blocked ones are unblocked), restricted to the kinds the FSM
allows when the example says so. The default was chosen on the validation split's NLL
against the variants whose kind also reads a small MLP over the last `kind_context`
kinds (`kind_input="kinds"`) or a kind n-gram prior (`ngram_order`): they fit the
training programs' habits, which do not carry to held-out programs; the kind from the
transformer's query token had been dropped before, on the validation probe
(docs/probe.md, Results). `predict_proba` is the kind marginal of the move distribution.

Training: cross-entropy of the real move (CE), plus lambda * KL(p̂ || q) between the
position's abstract-state group distribution (groups.parquet, grouping "state") and
the model's kind marginal. Reasons and sites are dropped at random while training, per
token (`reason_dropout`) and for whole windows (`window_reason_dropout`), so that a
rollout's own events, which carry none, and reasons training never saw (a kernel's
`runtime.Gosched` against the training programs' preemptions) look familiar.

torch is imported lazily: it is in the `ml` extra (`pip install 'schedcast[ml]'`).
"""

from __future__ import annotations

import base64
import io
import math
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from schedcast.models.baselines import NgramPredictor
from schedcast.models.structural import StructuralPredictor
from schedcast.models.base import N_KINDS, Examples, ModelError, Predictor, check_fitted, fold_of_groups
from schedcast.terminal import progress

if TYPE_CHECKING:
    from schedcast.dataset.access import RunPrefix

# Goroutine statuses replayed from the six kinds (0 = not seen).
UNSEEN, RUNNABLE, RUNNING, BLOCKED, DEAD = range(5)
STATUS_NAMES = ("unseen", "runnable", "running", "blocked", "dead")
# Status after an event of each kind: GoBlock, GoCreate, GoEnd, GoSched, GoStart, GoUnblock.
STATUS_AFTER = np.array([BLOCKED, RUNNABLE, DEAD, RUNNABLE, RUNNING, RUNNABLE], dtype=np.int8)
CREATE = 1
# The kinds a goroutine of the window can make, in move-layout order, and the status each needs.
GOROUTINE_KINDS = (0, 2, 3, 4, 5)  # GoBlock, GoEnd, GoSched, GoStart, GoUnblock
NEEDS = (RUNNING, RUNNING, RUNNING, RUNNABLE, BLOCKED)
OTHER_GOROUTINE = 0  # predict_moves: a goroutine the prefix has not shown


COUNT_CAP = 2  # counts read 0, 1, 2+: training programs have a handful of goroutines, kernels thousands
LENGTH_CAP = 6  # prefix length read as log2 buckets up to 32+ events
OTHER_CAP = 1  # goroutines outside the window, as the "other" slot's feature: whether there is one
KIND_INPUTS = ("kinds", "transformer", "both", "none")  # TrajectoryConfig.kind_input
ROLE_CAP = 6  # role and site embeddings: the 6th and later share one ("many"); the pointer still tells them apart


def count_bucket(n: int) -> int:
    """0, 1, 2+ -> 0..2."""
    return min(n, COUNT_CAP)


def length_bucket(k: int) -> int:
    """0, 1, 2-3, 4-7, 8-15, 16-31, 32+ -> 0..6."""
    return min(int(k).bit_length(), LENGTH_CAP)


def goroutine_status(kind: np.ndarray, g: np.ndarray, actor: np.ndarray, k: int) -> np.ndarray:
    """Status of every canonical goroutine (index) before event k: the status after
    its last event among the first k, RUNNING for one seen only as the acting
    goroutine (it was running when it acted), UNSEEN otherwise. O(k), vectorised."""
    kind, g, actor = kind[:k], g[:k], actor[:k]
    size = int(max(g.max(initial=0), actor.max(initial=0))) + 2
    last = np.full(size, -1, dtype=np.int64)
    np.maximum.at(last, g.astype(np.int64), np.arange(k, dtype=np.int64))
    status = np.full(size, UNSEEN, dtype=np.int8)
    seen = last >= 0
    status[seen] = STATUS_AFTER[kind[last[seen]]]
    acted = np.zeros(size, dtype=bool)
    acted[actor[actor > 0].astype(np.int64)] = True
    status[acted & ~seen] = RUNNING
    return status


@dataclass
class TrajectoryConfig:
    window: int = 24
    d_model: int = 32
    n_heads: int = 4
    n_layers: int = 2
    dropout: float = 0.2
    kl_weight: float = 1.0  # lambda; 0 = plain cross-entropy
    epochs: int = 5
    batch_size: int = 256
    lr: float = 3e-3
    weight_decay: float = 0.01
    reason_dropout: float = 0.15  # per token
    window_reason_dropout: float = 0.3  # a whole window without reasons and sites (unknown reasons, rollouts)
    n_reasons: int = 24  # most common training reasons kept, the rest "other"
    threads: int = 1  # the machine is shared: one thread is faster than two under load
    seed: int = 0
    temperature: float = 1.0  # logits / temperature at prediction (training ignores it)
    # Training positions: k / n of the run within [min_depth, max_depth] (1.0 includes the last event).
    min_depth: float = 0.0
    max_depth: float = 1.0
    # The query token's inputs: the prefix length bucket and the status counts (off: always 0).
    use_length: bool = True
    use_counts: bool = False
    # The kind n-gram prior: log P(next kind | last ngram_order - 1 kinds) of the training
    # runs, added to the kind logits with a learned weight per kind (0 = off). While
    # training, each position reads an n-gram fitted without its program's fold
    # (`ngram_folds` folds of the training programs), so the network learns how far to
    # trust it on programs it has not seen.
    ngram_order: int = 0
    ngram_folds: int = 3
    # What the kind logits read besides the priors: "transformer" (its query token, which
    # sees goroutine roles, statuses, reasons and sites), "kinds" (a small MLP over the
    # last `kind_context` kinds and the status counts), "both" (the sum) or "none" (the
    # priors alone, each with its learned weight per kind).
    kind_input: str = "none"
    kind_context: int = 8
    # factorized: p(move) = p(kind) * p(goroutine | kind), the kind distribution from the
    # kind logits alone; otherwise one softmax over every move (a kind with more
    # candidate goroutines gets more mass).
    factorized: bool = True
    # Kind heads (n-gram weight + kind MLP), each trained on its own loss from its own
    # initialisation; predictions average their move distributions (an ensemble: one
    # head's kind distribution varies with its seed).
    kind_heads: int = 1
    # The structural model's log-probabilities as a third prior of the kind logits, with a
    # learned weight per kind (stacking): fitted on the train split first (as `schedcast
    # train structural` does, without its temperature); while training, each position
    # reads the fold boosters that did not see its program's family; predictions read the
    # mean of all fold boosters (saved with the trajectory model).
    structural_prior: bool = True


@dataclass
class TrainInfo:
    train_positions: int = 0
    validation_positions: int = 0
    soft_targets: int = 0
    parameters: int = 0
    fit_seconds: float = 0.0
    epochs: list[dict[str, float]] = field(default_factory=list)  # per epoch: train loss, validation NLL


@dataclass(frozen=True)
class Features:
    """The network's input for n examples (numpy; see the module docstring)."""

    kind: np.ndarray  # (n, W) int64, 6 = padding
    role: np.ndarray  # (n, W) 0 = padding, 1..W
    reason: np.ndarray  # (n, W) 0 = none or unknown, 2.. = vocabulary (1 unused)
    site: np.ndarray  # (n, W) 0 = none, 1..W site role
    now: np.ndarray  # (n, W) status now of the token's goroutine
    query: np.ndarray  # (n, 4) running, runnable, blocked buckets, length bucket
    last_pos: np.ndarray  # (n, W) position in the window of role r+1's last token, -1 none
    role_g: np.ndarray  # (n, W) canonical goroutine of role r+1, 0 none
    mask: np.ndarray  # (n, M) bool, allowed moves
    n_other: np.ndarray  # (n, 5) goroutines outside the window that can make each kind


def n_moves(window: int) -> int:
    return 1 + len(GOROUTINE_KINDS) * (window + 1)


def move_index(kind: int, slot: int, window: int) -> int:
    """Slot 0..window-1: role slot+1; slot == window: "other"."""
    if kind == CREATE:
        return 0
    return 1 + GOROUTINE_KINDS.index(kind) * (window + 1) + slot


class _Featurizer:
    """Turns (prefix events, k, statuses) into Features, one example at a time."""

    def __init__(self, window: int, reasons: dict[str, int], use_length: bool = True, use_counts: bool = True) -> None:
        self.window = window
        self.reasons = reasons
        self.use_length = use_length
        self.use_counts = use_counts

    def one(
        self, kind: np.ndarray, g: np.ndarray, reason: list[str], site: np.ndarray, k: int,
        status: np.ndarray, allowed: np.ndarray | None, out: dict[str, np.ndarray], i: int,
        drop: np.ndarray | None = None,
    ) -> None:
        W = self.window
        lo = max(0, k - W)
        pad = W - (k - lo)
        roles: dict[int, int] = {}
        sites: dict[int, int] = {}
        for j, e in enumerate(range(lo, k)):
            t = pad + j
            ge = int(g[e])
            r = roles.setdefault(ge, len(roles) + 1)
            out["kind"][i, t] = kind[e]
            out["role"][i, t] = r
            out["last_pos"][i, r - 1] = t
            out["role_g"][i, r - 1] = ge
            out["now"][i, t] = status[ge] if ge < status.size else UNSEEN
            dropped = drop is not None and drop[j]
            if not dropped:
                out["reason"][i, t] = self.reasons.get(reason[e], 0)  # a reason training never saw reads as none
                s = int(site[e])
                if s >= 0:
                    out["site"][i, t] = sites.setdefault(s, len(sites) + 1)
        running = int(np.count_nonzero(status == RUNNING))
        runnable = int(np.count_nonzero(status == RUNNABLE))
        blocked = int(np.count_nonzero(status == BLOCKED))
        counts = (count_bucket(running), count_bucket(runnable), count_bucket(blocked)) if self.use_counts else (0, 0, 0)
        out["query"][i] = (*counts, length_bucket(k) if self.use_length else 0)
        totals = (running, running, running, runnable, blocked)
        kind_ok = allowed if allowed is not None else np.ones(N_KINDS, dtype=bool)
        mask = out["mask"][i]
        mask[0] = bool(kind_ok[CREATE])
        in_window = np.zeros(N_KINDS, dtype=np.int64)
        for slot, ge in enumerate(out["role_g"][i, : len(roles)].tolist()):
            st = status[ge] if ge < status.size else UNSEEN
            for j, (kd, need) in enumerate(zip(GOROUTINE_KINDS, NEEDS)):
                if st == need and kind_ok[kd]:
                    mask[1 + j * (W + 1) + slot] = True
                    in_window[j] += 1
        for j, kd in enumerate(GOROUTINE_KINDS):
            other = totals[j] - int(in_window[j])
            out["n_other"][i, j] = max(other, 0)
            # Outside the window: a goroutine with the status, or - when the FSM (which
            # also sees system calls and events the sequence leaves out) allows the kind
            # and no goroutine of the window can make it - one the prefix has not shown.
            if kind_ok[kd] and (other > 0 or (allowed is not None and in_window[j] == 0)):
                mask[1 + j * (W + 1) + W] = True


def _empty_features(n: int, window: int) -> dict[str, np.ndarray]:
    W = window
    return {
        "kind": np.full((n, W), N_KINDS, dtype=np.int64),
        "role": np.zeros((n, W), dtype=np.int64),
        "reason": np.zeros((n, W), dtype=np.int64),
        "site": np.zeros((n, W), dtype=np.int64),
        "now": np.zeros((n, W), dtype=np.int64),
        "query": np.zeros((n, 4), dtype=np.int64),
        "last_pos": np.full((n, W), -1, dtype=np.int64),
        "role_g": np.zeros((n, W), dtype=np.int64),
        "mask": np.zeros((n, n_moves(W)), dtype=bool),
        "n_other": np.zeros((n, len(GOROUTINE_KINDS)), dtype=np.int64),
        "ngram": np.zeros((n, N_KINDS), dtype=np.float32),
        "structural": np.zeros((n, N_KINDS), dtype=np.float32),
    }


def _net(config: TrajectoryConfig, n_reasons: int):  # type: ignore[no-untyped-def]
    """The network (a nanoGPT-style pre-norm causal transformer with two heads)."""
    import torch
    from torch import nn

    W, d = config.window, config.d_model

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.ln1 = nn.LayerNorm(d)
            self.attn = nn.MultiheadAttention(d, config.n_heads, dropout=config.dropout, batch_first=True)
            self.ln2 = nn.LayerNorm(d)
            self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d), nn.Dropout(config.dropout))

        def forward(self, x, causal):  # type: ignore[no-untyped-def]
            h = self.ln1(x)
            a, _ = self.attn(h, h, h, attn_mask=causal, need_weights=False)
            x = x + a
            return x + self.mlp(self.ln2(x))

    class TrajectoryNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.kind = nn.Embedding(N_KINDS + 2, d)  # 6 = padding, 7 = query token
            self.role = nn.Embedding(ROLE_CAP + 1, d)
            self.reason = nn.Embedding(n_reasons + 2, d)
            self.site = nn.Embedding(ROLE_CAP + 1, d)
            self.now = nn.Embedding(len(STATUS_NAMES), d)
            self.pos = nn.Embedding(W + 1, d)
            self.counts = nn.ModuleList([nn.Embedding(COUNT_CAP + 1, d) for _ in range(3)])
            self.length = nn.Embedding(LENGTH_CAP + 1, d)
            self.blocks = nn.ModuleList([Block() for _ in range(config.n_layers)])
            self.ln_f = nn.LayerNorm(d)
            self.kind_head = nn.Linear(d, N_KINDS)
            self.query_proj = nn.Linear(d, len(GOROUTINE_KINDS) * d)
            self.key_proj = nn.Linear(d, d)
            self.other = nn.Parameter(torch.zeros(len(GOROUTINE_KINDS), d))
            self.other_count = nn.Parameter(torch.zeros(len(GOROUTINE_KINDS)))
            heads = max(config.kind_heads, 1)
            self.ngram_weight = nn.Parameter(torch.ones(heads, N_KINDS))  # the n-gram prior's weight per kind and head
            if config.structural_prior:
                self.structural_weight = nn.Parameter(torch.ones(heads, N_KINDS))
            L = min(config.kind_context, W)
            if config.kind_input in ("kinds", "both"):
                self.kind_mlps = nn.ModuleList([
                    nn.Sequential(nn.Linear(L * (N_KINDS + 1) + 3 * (COUNT_CAP + 1), 2 * d), nn.GELU(), nn.Linear(2 * d, N_KINDS))
                    for _ in range(heads)
                ])
            causal = torch.triu(torch.ones(W + 1, W + 1, dtype=torch.bool), diagonal=1)
            self.register_buffer("causal", causal, persistent=False)

        def forward(self, f: dict[str, Any], members: bool = False):  # type: ignore[no-untyped-def]
            """Log-probabilities of the moves (n, M), -inf where masked; with
            `members`, each kind head's own (heads, n, M)."""
            n = f["kind"].shape[0]
            role, site = f["role"].clamp(max=ROLE_CAP), f["site"].clamp(max=ROLE_CAP)
            x = self.kind(f["kind"]) + self.role(role) + self.reason(f["reason"]) + self.site(site) + self.now(f["now"])
            q = self.kind(torch.full((n, 1), N_KINDS + 1, dtype=torch.long))
            q = q + sum(emb(f["query"][:, i : i + 1]) for i, emb in enumerate(self.counts)) + self.length(f["query"][:, 3:4])
            x = torch.cat([x, q], dim=1) + self.pos.weight[None]
            for block in self.blocks:
                x = block(x, self.causal)
            h = self.ln_f(x)
            hq = h[:, -1]
            from_transformer = self.kind_head(hq) if config.kind_input in ("transformer", "both") else 0.0
            if config.kind_input in ("kinds", "both"):
                L = min(config.kind_context, W)
                last = torch.nn.functional.one_hot(f["kind"][:, W - L :].clamp(max=N_KINDS), N_KINDS + 1).float().reshape(n, -1)
                counts = torch.nn.functional.one_hot(f["query"][:, :3], COUNT_CAP + 1).float().reshape(n, -1)
                kinds_in = torch.cat([last, counts], dim=1)
            # Pointer scores between the query and each role's last token.
            at = f["last_pos"].clamp(min=0)
            role_h = torch.gather(h[:, :W], 1, at[..., None].expand(-1, -1, d))  # (n, W, d)
            keys = self.key_proj(role_h)
            queries = self.query_proj(hq).view(n, len(GOROUTINE_KINDS), d)
            ptr = torch.einsum("nkd,nwd->nkw", queries, keys) / math.sqrt(d)  # (n, 5, W)
            other = torch.einsum("nkd,kd->nk", queries, self.other) / math.sqrt(d)
            other = other + self.other_count * torch.log1p(f["n_other"].clamp(max=OTHER_CAP).float())
            slots = torch.cat([ptr, other[..., None]], dim=2)  # (n, 5, W + 1)
            idx = torch.tensor(GOROUTINE_KINDS)
            mask = f["mask"]
            slot_mask = mask[:, 1:].view(n, len(GOROUTINE_KINDS), W + 1)
            slot_logp = torch.log_softmax(slots.masked_fill(~slot_mask, -1e9), dim=2)
            kind_ok = torch.cat([mask[:, :1], slot_mask.any(dim=2)], dim=1)  # Create, then GOROUTINE_KINDS
            order = torch.tensor([CREATE, *GOROUTINE_KINDS])
            outs = []
            for head in range(max(config.kind_heads, 1)):
                kind_logits = self.ngram_weight[head] * f["ngram"] + from_transformer  # (n, 6)
                if config.structural_prior:
                    kind_logits = kind_logits + self.structural_weight[head] * f["structural"]
                if config.kind_input in ("kinds", "both"):
                    kind_logits = kind_logits + self.kind_mlps[head](kinds_in)
                if config.factorized:
                    # log p(kind) + log p(slot | kind), each over what the mask allows.
                    kind_logp = torch.log_softmax(kind_logits[:, order].masked_fill(~kind_ok, -1e9), dim=1)
                    joint = slot_logp + kind_logp[:, 1:, None]
                    logits = torch.cat([kind_logp[:, :1], joint.reshape(n, -1)], dim=1)
                else:
                    joint = slots + kind_logits[:, idx][..., None]
                    logits = torch.cat([kind_logits[:, CREATE : CREATE + 1], joint.reshape(n, -1)], dim=1)
                outs.append(torch.log_softmax(logits.masked_fill(~mask, float("-inf")), dim=1))
            stacked = torch.stack(outs)  # (heads, n, M)
            if members:
                return stacked
            return torch.logsumexp(stacked, dim=0) - math.log(stacked.shape[0])

    return TrajectoryNet()


def _kind_of_moves(window: int) -> np.ndarray:
    kinds = np.empty(n_moves(window), dtype=np.int64)
    kinds[0] = CREATE
    for j, kd in enumerate(GOROUTINE_KINDS):
        kinds[1 + j * (window + 1) : 1 + (j + 1) * (window + 1)] = kd
    return kinds


class TrajectoryPredictor(Predictor):
    name: ClassVar[str] = "trajectory"

    def __init__(self, config: dict[str, Any] | None = None, reasons: list[str] | None = None, label: str = "trajectory") -> None:
        self.cfg = TrajectoryConfig(**(config or {}))
        if self.cfg.kind_input not in KIND_INPUTS:
            raise ModelError(f"{label}: kind_input must be one of {', '.join(KIND_INPUTS)}, got {self.cfg.kind_input!r}")
        if self.cfg.kind_input == "none" and not self.cfg.structural_prior and self.cfg.ngram_order == 0:
            raise ModelError(f"{label}: kind_input 'none' reads only the priors, and both are off (structural_prior false, ngram_order 0): the kind would be uniform")
        self.reason_vocab: list[str] = list(reasons or [])
        self.label = label
        self.name = label  # type: ignore[misc]  # the variant's name in tables; files record the class (type(self).name)
        self.net: Any = None
        self.ngram: NgramPredictor | None = None  # the kind n-gram prior (cfg.ngram_order > 0)
        self.structural: StructuralPredictor | None = None  # the structural prior (cfg.structural_prior)
        self.info = TrainInfo()

    # -- the display name: CE and CE+KL variants can sit side by side -------------
    @property
    def display_name(self) -> str:
        return self.label

    def _reasons(self) -> dict[str, int]:
        return {r: i + 2 for i, r in enumerate(self.reason_vocab)}

    # -- features -----------------------------------------------------------------
    def features(self, examples: Examples) -> dict[str, np.ndarray]:
        s = examples.structure
        if s is None:
            raise ModelError(f"{self.label}: needs examples with their prefix events (DatasetView.model_examples / examples_at)")
        out = _empty_features(len(examples), self.cfg.window)
        feat = _Featurizer(self.cfg.window, self._reasons(), self.cfg.use_length, self.cfg.use_counts)
        for i in range(len(examples)):
            run, k = s.prefix(i)
            status = goroutine_status(run.kind, run.g, run.actor, k)
            lo = max(0, k - self.cfg.window)
            reasons = [s.reasons[c] if c >= 0 else "" for c in run.reason[lo:k].tolist()]
            reasons = [""] * lo + reasons  # indexable by event position
            allowed = None if examples.allowed is None else examples.allowed[i]
            feat.one(run.kind, run.g, reasons, run.site, k, status, allowed, out, i)
        if self.ngram is not None:
            out["ngram"] = _log_prior(self.ngram.predict_proba(examples))
        if self.cfg.structural_prior:
            if self.structural is None:
                raise ModelError(f"{self.label}: this model reads a structural prior but has none (fit it first)")
            # The mean of the fold boosters, like the held-out means it was trained on
            # (the structural model's own booster is sharper: validation NLL 0.856 vs 0.910).
            out["structural"] = _log_prior(self.structural.fold_mean_proba(examples))
        return out

    def _fit_ngram(self, train: Examples, groups: np.ndarray) -> np.ndarray:
        """Fit the kind n-gram prior on all of `train` (what predictions read) and
        return the training positions' prior from n-grams fitted without their fold of
        `groups` (program families; log-probabilities, (n, 6))."""
        order = self.cfg.ngram_order
        self.ngram = NgramPredictor(order).fit(train)
        fold = fold_of_groups(groups, max(self.cfg.ngram_folds, 2), self.cfg.seed)
        prior = np.zeros((len(train), N_KINDS))
        for f in range(int(fold.max()) + 1):
            held = np.flatnonzero(fold == f)
            rest = np.flatnonzero(fold != f)
            if held.size == 0:
                continue
            model = NgramPredictor(order).fit(train.subset(rest)) if rest.size else self.ngram
            prior[held] = model.predict_proba(train.subset(held))
        return _log_prior(prior)

    # -- fitting ---------------------------------------------------------------
    def fit(  # type: ignore[override]
        self, train: Examples, validation: Examples | None = None, next_g: np.ndarray | None = None,
        families: np.ndarray | None = None, structural: StructuralPredictor | None = None,
    ) -> TrajectoryPredictor:
        """Train on these positions (every position of every training run, from
        `training_positions`); `next_g` is the canonical goroutine of each label's event
        (without it the move is read from the structure where the prefix holds it);
        `train.targets` (soft, the state group's p̂) feeds the KL term when kl_weight > 0;
        `families` (per position; default its program) are the n-gram prior's folds;
        `structural` (required with cfg.structural_prior) is a structural model fitted on
        the same training programs with the same families as groups."""
        import torch

        if train.structure is None:
            raise ModelError(f"{self.label}: fit needs examples with their prefix events")
        keep = np.flatnonzero(train.labels >= 0)
        if keep.size == 0:
            raise ModelError(f"{self.label}: the training examples have no labels (empty split?)")
        train = train.subset(keep)
        next_g = None if next_g is None else np.asarray(next_g)[keep]
        groups = train.programs if families is None else np.asarray(families)[keep]
        started = time.monotonic()
        torch.manual_seed(self.cfg.seed)
        torch.set_num_threads(self.cfg.threads)
        rng = np.random.default_rng(self.cfg.seed)
        self._build_reason_vocab(train)
        self.ngram = None
        feats, targets = self._training_features(train, rng, self.cfg.reason_dropout, next_g)
        if self.cfg.ngram_order > 0:
            feats["ngram"] = self._fit_ngram(train, groups)
        self.structural = None
        if self.cfg.structural_prior:
            if structural is None or not structural.fitted:
                raise ModelError(f"{self.label}: structural_prior needs a fitted structural model (fit_trajectory fits one)")
            feats["structural"] = _log_prior(structural.held_out_proba(train, groups))
            self.structural = structural
        soft = train.targets if train.targets is not None else np.eye(N_KINDS)[train.labels]
        val = None
        if validation is not None and len(validation):
            validation = validation.subset(np.flatnonzero(validation.labels >= 0))
            val = (self.features(validation), validation.labels)
        self.net = _net(self.cfg, len(self.reason_vocab))
        opt = torch.optim.AdamW(self.net.parameters(), lr=self.cfg.lr, weight_decay=self.cfg.weight_decay)
        kinds_of = torch.tensor(_kind_of_moves(self.cfg.window))
        t_feats = {k: torch.from_numpy(v) for k, v in feats.items()}
        t_targets = torch.from_numpy(targets)
        t_soft = torch.from_numpy(soft.astype(np.float32))
        n = t_targets.shape[0]
        steps = self.cfg.epochs * math.ceil(n / self.cfg.batch_size)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=self.cfg.lr, total_steps=max(steps, 1))
        self.info = TrainInfo(
            train_positions=n, validation_positions=0 if val is None else len(val[1]),
            parameters=sum(p.numel() for p in self.net.parameters()),
        )
        if train.targets is not None:
            self.info.soft_targets = int(np.count_nonzero(train.targets.max(axis=1) < 1.0 - 1e-9))
        with progress(f"train {self.label}", max(steps, 1), "batches") as bar:
            for epoch in range(self.cfg.epochs):
                self.net.train()
                order = torch.from_numpy(rng.permutation(n))
                total = 0.0
                for start in range(0, n, self.cfg.batch_size):
                    idx = order[start : start + self.cfg.batch_size]
                    batch = {k: v[idx] for k, v in t_feats.items()}
                    logp = self.net(batch, members=True)  # (heads, b, M): each kind head has its own loss
                    heads, b, moves = logp.shape
                    ce = -logp.gather(2, t_targets[idx][None, :, None].expand(heads, b, 1)).squeeze(2)
                    loss = ce.mean()
                    if self.cfg.kl_weight > 0:
                        marg = _marginal(logp.exp().reshape(heads * b, moves), kinds_of).clamp(min=1e-8).view(heads, b, N_KINDS)
                        p = t_soft[idx][None]
                        kl = (p * (torch.log(p.clamp(min=1e-12)) - torch.log(marg))).sum(2)
                        loss = loss + self.cfg.kl_weight * kl.mean()
                    opt.zero_grad()
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(self.net.parameters(), 1.0)
                    opt.step()
                    sched.step()
                    total += float(loss.detach()) * idx.numel()
                    bar.advance()
                row = {"epoch": epoch + 1, "train_loss": total / n}
                if val is not None:
                    q = self._proba_from(val[0])
                    row["validation_nll"] = float(-np.mean(np.log(np.maximum(q[np.arange(len(val[1])), val[1]], 1e-12))))
                self.info.epochs.append(row)
        self.net.eval()
        self.info.fit_seconds = time.monotonic() - started
        return self

    def _build_reason_vocab(self, train: Examples) -> None:
        from collections import Counter

        s = train.structure
        assert s is not None
        counts: Counter[str] = Counter()
        for run in s.runs.values():
            codes = run.reason[run.reason >= 0]
            for c, m in zip(*np.unique(codes, return_counts=True)):
                counts[s.reasons[int(c)]] += int(m)
        self.reason_vocab = [r for r, _ in counts.most_common(self.cfg.n_reasons) if r]

    def _training_features(
        self, train: Examples, rng: np.random.Generator, dropout: float, next_g: np.ndarray | None
    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        s = train.structure
        assert s is not None
        W = self.cfg.window
        out = _empty_features(len(train), W)
        feat = _Featurizer(W, self._reasons(), self.cfg.use_length, self.cfg.use_counts)
        targets = np.zeros(len(train), dtype=np.int64)
        for i in range(len(train)):
            run, k = s.prefix(i)
            status = goroutine_status(run.kind, run.g, run.actor, k)
            reasons = [s.reasons[c] if c >= 0 else "" for c in run.reason[:k].tolist()]
            allowed = None if train.allowed is None else train.allowed[i]
            drop = rng.random(min(k, W)) < dropout
            if rng.random() < self.cfg.window_reason_dropout:
                drop[:] = True
            feat.one(run.kind, run.g, reasons, run.site, k, status, allowed, out, i, drop)
            # The real move: event k of the same run (its kind is the label).
            kind = int(train.labels[i])
            g_next = int(next_g[i]) if next_g is not None else int(run.g[k]) if k < run.g.size else -1
            if kind == CREATE:
                m = 0
            else:
                roles = out["role_g"][i].tolist()
                slot = roles.index(g_next) if g_next > 0 and g_next in roles else W
                m = move_index(kind, slot, W)
            out["mask"][i, m] = True  # the real move is always possible
            targets[i] = m
        return out, targets

    # -- prediction --------------------------------------------------------------
    def _proba_moves(self, feats: dict[str, np.ndarray]) -> np.ndarray:
        import torch

        check_fitted(self, self.net is not None)
        torch.set_num_threads(self.cfg.threads)
        outs = []
        with torch.no_grad():
            for start in range(0, feats["kind"].shape[0], 1024):
                batch = {k: torch.from_numpy(v[start : start + 1024]) for k, v in feats.items()}
                outs.append(torch.softmax(self.net(batch) / self.cfg.temperature, dim=1).numpy().astype(np.float64))
        probs = np.concatenate(outs) if outs else np.zeros((0, n_moves(self.cfg.window)))
        # A row with nothing allowed (no move at all) has NaNs: nothing to predict.
        probs = np.nan_to_num(probs, nan=0.0)
        sums = probs.sum(axis=1, keepdims=True)  # float32 softmax: renormalise in float64
        return np.where(sums > 0, probs / np.where(sums > 0, sums, 1.0), 0.0)

    def _proba_from(self, feats: dict[str, np.ndarray]) -> np.ndarray:
        moves = self._proba_moves(feats)
        q = np.zeros((moves.shape[0], N_KINDS))
        np.add.at(q.T, _kind_of_moves(self.cfg.window), moves.T)
        empty = q.sum(axis=1) <= 0
        q[empty] = 1.0 / N_KINDS  # no allowed move: nothing known, uniform
        return q / q.sum(axis=1, keepdims=True)

    def predict_proba(self, examples: Examples) -> np.ndarray:
        check_fitted(self, self.net is not None)
        if len(examples) == 0:
            return np.zeros((0, N_KINDS))
        return self._proba_from(self.features(examples))

    def predict_moves(self, examples: Examples) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per example: (moves (m, 2) of (goroutine, kind), probabilities (m,)) whose
        kind marginal is predict_proba. A GoCreate move names the new goroutine (one
        more than the largest id of the prefix); an "other" slot's mass is split evenly
        among the goroutines outside the window that can make the kind, or goes to
        goroutine 0 (one the prefix has not shown) when there is none."""
        check_fitted(self, self.net is not None)
        s = examples.structure
        if s is None:
            raise ModelError(f"{self.label}: predict_moves needs examples with their prefix events")
        feats = self.features(examples)
        probs = self._proba_moves(feats)
        W = self.cfg.window
        out = []
        kinds = np.array(GOROUTINE_KINDS, dtype=np.int64)
        for i in range(len(examples)):
            run, k = s.prefix(i)
            status = goroutine_status(run.kind, run.g, run.actor, k)
            role_g = feats["role_g"][i]
            p = probs[i]
            parts_g: list[np.ndarray] = []
            parts_k: list[np.ndarray] = []
            parts_p: list[np.ndarray] = []
            if p[0] > 0:  # GoCreate: the new goroutine (status has max id + 2 entries)
                parts_g.append(np.array([status.size - 1]))
                parts_k.append(np.array([CREATE]))
                parts_p.append(p[:1])
            slots = p[1:].reshape(len(GOROUTINE_KINDS), W + 1)
            j, slot = np.nonzero(slots[:, :W] > 0)
            parts_g.append(role_g[slot])
            parts_k.append(kinds[j])
            parts_p.append(slots[j, slot])
            outside = np.ones(status.size, dtype=bool)
            outside[role_g[role_g > 0]] = False
            for j, need in enumerate(NEEDS):
                if slots[j, W] <= 0:
                    continue
                who = np.flatnonzero((status == need) & outside)
                if who.size == 0:
                    who = np.array([OTHER_GOROUTINE])
                parts_g.append(who)
                parts_k.append(np.full(who.size, kinds[j]))
                parts_p.append(np.full(who.size, slots[j, W] / who.size))
            moves = np.stack([np.concatenate(parts_g), np.concatenate(parts_k)], axis=1).astype(np.int64)
            out.append((moves, np.concatenate(parts_p).astype(np.float64)))
        return out

    # -- persistence -----------------------------------------------------------
    def config(self) -> dict[str, Any]:
        return {"config": asdict(self.cfg), "reasons": self.reason_vocab, "label": self.label}

    def state(self) -> dict[str, Any]:
        import torch

        ngram = None if self.ngram is None else {"order": self.ngram.order, "alpha": self.ngram.alpha, **self.ngram.state()}
        structural = None if self.structural is None else {"config": self.structural.config(), "state": self.structural.state(fold_boosters=True)}
        if self.net is None:
            return {"weights": None, "info": asdict(self.info), "ngram": ngram, "structural": structural}
        buf = io.BytesIO()
        torch.save(self.net.state_dict(), buf)
        weights = base64.b64encode(buf.getvalue()).decode("ascii")
        return {"weights": weights, "info": asdict(self.info), "ngram": ngram, "structural": structural}

    def set_state(self, state: dict[str, Any]) -> None:
        import torch

        self.info = TrainInfo(**state.get("info", {}))
        self.ngram = None
        ngram = state.get("ngram")
        if ngram is not None:
            self.ngram = NgramPredictor(int(ngram["order"]), float(ngram["alpha"]))
            self.ngram.set_state(ngram)
        elif self.cfg.ngram_order > 0 and state.get("weights") is not None:
            raise ModelError(f"{self.label}: the model file has no n-gram prior (an older format); train it again")
        self.structural = None
        structural = state.get("structural")
        if structural is not None:
            self.structural = StructuralPredictor(**structural["config"])
            try:
                self.structural.set_state(structural["state"])
            except ModelError as e:
                raise ModelError(f"{self.label}: its structural prior: {e} (here: train the trajectory model again)") from e
            if structural["state"].get("fitted") and "fold_boosters" not in structural["state"]:
                raise ModelError(f"{self.label}: the model file's structural prior carries no fold boosters (an older format); train it again")
        elif self.cfg.structural_prior and state.get("weights") is not None:
            raise ModelError(f"{self.label}: the model file reads a structural prior but carries none; train it again")
        if state.get("weights") is None:
            self.net = None
            return
        self.net = _net(self.cfg, len(self.reason_vocab))
        try:
            blob = base64.b64decode(state["weights"])
            self.net.load_state_dict(torch.load(io.BytesIO(blob), weights_only=True))
        except (ValueError, RuntimeError, KeyError, TypeError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ModelError(f"{self.label}: the model file's weights are unreadable ({first}); train it again") from exc
        self.net.eval()


def _log_prior(p: np.ndarray) -> np.ndarray:
    """An n-gram's distributions as float32 log-probabilities (every one is positive)."""
    return np.log(np.maximum(np.asarray(p, dtype=np.float64), 1e-12)).astype(np.float32)


def _marginal(probs, kinds_of):  # type: ignore[no-untyped-def]
    """(n, M) move probabilities -> (n, 6) kind marginal (torch)."""
    import torch

    out = torch.zeros(probs.shape[0], N_KINDS, dtype=probs.dtype)
    return out.index_add(1, kinds_of, probs)


def training_positions(view, split: str = "train", min_depth: float = 0.0, max_depth: float = 1.0):  # type: ignore[no-untyped-def]
    """Every position k = 0..n-1 (each has a next event) of every run of the split's
    programs with min_depth <= k / n <= max_depth: (run_keys, ks)."""
    import polars as pl

    programs = set(view.programs.filter(pl.col("split") == split)["program_id"].to_list())
    runs = view.runs.filter(pl.col("program_id").cast(pl.Utf8).is_in(list(programs)) & (pl.col("n_events") > 0))
    keys, ks = [], []
    used = set(view.examples["run_key"].unique().to_list())
    for r, n in zip(runs["run_key"].to_list(), runs["n_events"].to_list()):
        if r not in used:
            continue  # skipped or excluded runs have no events stored
        k = np.arange(n, dtype=np.int64)
        k = k[(k >= min_depth * n) & (k <= max_depth * n)]
        keys.append(np.full(k.size, r, dtype=np.int64))
        ks.append(k)
    if not keys:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(keys), np.concatenate(ks)


def state_group_targets(view, run_keys: np.ndarray, ks: np.ndarray, labels: np.ndarray) -> np.ndarray:  # type: ignore[no-untyped-def]
    """p̂ of each position's abstract-state group (grouping "state"); the one-hot label
    where a position has no group."""
    import polars as pl

    groups = view.groups.filter(pl.col("grouping") == "state").select("group_id", "p_hat")
    ids = groups["group_id"].to_numpy()
    table = np.zeros((int(ids.max()) + 1 if ids.size else 0, N_KINDS))
    if ids.size:
        table[ids] = np.array(groups["p_hat"].to_list(), dtype=np.float64)
    gid = view.state_group_of(run_keys, ks)
    targets = np.eye(N_KINDS)[labels]
    ok = (gid >= 0) & (gid < table.shape[0])
    rows = np.flatnonzero(ok)
    soft = table[gid[rows]]
    good = soft.sum(axis=1) > 0.5
    targets[rows[good]] = soft[good] / soft[good].sum(axis=1, keepdims=True)
    return targets


def fit_trajectory(view, config: TrajectoryConfig = TrajectoryConfig(), label: str = "trajectory") -> TrajectoryPredictor:  # type: ignore[no-untyped-def]
    """Train on every position of every train run; report the validation NLL per epoch."""
    from schedcast.models.fitting import StructuralOptions, fit_structural, program_families

    keys, ks = training_positions(view, "train", config.min_depth, config.max_depth)
    if keys.size == 0:
        raise ModelError(f"{label}: the train split has no events")
    train = view.examples_at(keys, ks)
    if config.kl_weight > 0:
        train = train.with_targets(state_group_targets(view, keys, ks, train.labels))
    vkeys, vks = training_positions(view, "val")
    validation = view.examples_at(vkeys, vks) if vkeys.size else None
    next_g = np.array([view.run_events(int(r))[1][int(k)] for r, k in zip(keys, ks)], dtype=np.int64)
    families = program_families(view, train.programs)
    structural = None
    if config.structural_prior:
        # The structural model as `schedcast train structural` fits it (its own training
        # positions, families as folds), without the temperature: the kind head learns
        # its own weight per kind.
        structural = fit_structural(view, StructuralOptions(calibrate=False, seed=config.seed, name=f"{label}.structural"))
    model = TrajectoryPredictor(asdict(config), label=label)
    return model.fit(train, validation, next_g, families, structural)


def trajectory_name(config: TrajectoryConfig) -> str:
    """The default model name: says the objective."""
    return "trajectory_kl" if config.kl_weight > 0 else "trajectory_ce"


def train_trajectory(dataset_dir, out_dir, options: TrajectoryConfig = TrajectoryConfig(), name: str = ""):  # type: ignore[no-untyped-def]
    """Fit the trajectory model on the dataset's train split and save it as
    out_dir/NAME.json (NAME: `name`, or trajectory_kl / trajectory_ce by objective).
    Returns the file's path. Raises ModelError / SchemaError / OSError with one line."""
    from pathlib import Path

    from schedcast.dataset.access import DatasetView

    name = name or trajectory_name(options)
    model = fit_trajectory(DatasetView(Path(dataset_dir)), options, label=name)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.json"
    model.save(path)
    return path
