"""LoRA fine-tuning with the paper's two objectives.

- `ce`: cross-entropy over the answer tokens only (prompt and padding masked). Each
  run's prefix is trained on that run's own next event, so across the runs of a group
  every observed next event appears exactly as often as it was observed: this is the
  paper's "duplicated in proportion to the observed next-event frequency", without
  pairing one run's prefix with another run's event (DESIGN §9). `--max-examples`
  takes whole groups, so each kept group keeps its observed frequencies; with
  `--runs-per-group K` it takes K seeded-random runs of each group instead, so a small
  budget covers many programs (each group's frequencies are then kept in expectation).
- `kl`: CE + λ·KL(p̂ ‖ q), p̂ the example's group distribution (paper grouping by
  default), q the softmax over the six kind-token logits at the discriminating
  position (prompting.py).

Deterministic for a seed (data order, LoRA init, dropout); a checkpoint every N steps
(adapter, optimizer, scheduler, RNG, step) lets a killed run resume where it stopped
when the same command is run again.
"""

from __future__ import annotations

import json
import math
import random
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from schedcast.dataset.prompts import PromptExample, PromptTooLong
from schedcast.models.base import N_KINDS
from schedcast.models.lm.errors import LMError, require_ml
from schedcast.models.lm.prompting import Encoded, PromptEncoder

OBJECTIVES = ("ce", "kl")
IGNORE = -100


@dataclass
class TrainOptions:
    objective: str = "ce"
    kl_weight: float = 1.0  # λ of the kl objective
    model: str = "smollm2"
    prompt_format: str = "paper"
    chat: bool = True
    max_length: int = 1024
    max_examples: int | None = None
    runs_per_group: int | None = None  # None: whole groups
    epochs: int = 1
    batch_size: int = 4
    learning_rate: float = 2e-4
    warmup_ratio: float = 0.05
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")
    gradient_checkpointing: bool = False
    bf16: bool = False
    quantize_4bit: bool = False
    grouping: str = "paper"
    seed: int = 0
    checkpoint_every: int = 25
    label: str = ""

    def check(self) -> None:
        if self.objective not in OBJECTIVES:
            raise LMError(f"unknown objective {self.objective!r}; choose from {', '.join(OBJECTIVES)}")
        if self.kl_weight < 0:
            raise LMError(f"--kl-weight must be >= 0 (got {self.kl_weight})")
        if self.epochs < 1 or self.batch_size < 1 or self.checkpoint_every < 1:
            raise LMError("--epochs, --batch-size and --checkpoint-every must be at least 1")
        if self.max_examples is not None and self.max_examples < 1:
            raise LMError(f"--max-examples must be at least 1 (got {self.max_examples})")
        if self.runs_per_group is not None and self.runs_per_group < 1:
            raise LMError(f"--runs-per-group must be at least 1 (got {self.runs_per_group})")
        if self.lora_r < 1 or self.lora_alpha <= 0 or not 0 <= self.lora_dropout < 1:
            raise LMError("LoRA needs r >= 1, alpha > 0 and 0 <= dropout < 1")
        if self.learning_rate <= 0:
            raise LMError("--learning-rate must be positive")

    @property
    def name(self) -> str:
        return self.label or f"lm-{self.objective}"

    def resume_key(self) -> dict[str, Any]:
        """The options a checkpoint must share to be resumed (all but checkpoint_every)."""
        d = asdict(self)
        d.pop("checkpoint_every")
        d["target_modules"] = list(self.target_modules)
        return d


@dataclass
class TrainExample:
    encoded: Encoded
    label: int
    p_hat: np.ndarray  # (6,) the group's empirical distribution


@dataclass
class TrainReport:
    examples: int = 0
    too_long: int = 0  # prompts that could not fit --max-length, left out
    truncated: int = 0  # prompts that lost source lines, events or goroutine states to fit
    states_dropped: int = 0  # of `truncated`, prompts whose goroutine-states list was cut
    groups: int = 0
    steps: int = 0
    resumed_from_step: int = 0
    seconds: float = 0.0
    mean_tokens: float = 0.0
    losses: list[float] = field(default_factory=list)  # mean loss per checkpoint interval
    trainable_parameters: int = 0


def select_groups(groups: np.ndarray, max_examples: int | None, seed: int, per_group: int | None = None) -> np.ndarray:
    """Indices of the examples kept: groups in a seeded random order, each whole (or, with
    per_group, that many of its members drawn at random), as many as fit in max_examples
    (all when None)."""
    if per_group is None and (max_examples is None or max_examples >= groups.size):
        return np.arange(groups.size)
    rng = np.random.default_rng(seed)
    ids, inverse = np.unique(groups, return_inverse=True)
    budget = groups.size if max_examples is None else max_examples
    keep: list[np.ndarray] = []
    total = 0
    for gi in rng.permutation(ids.size).tolist():
        members = np.flatnonzero(inverse == gi)
        if per_group is not None and members.size > per_group:
            members = np.sort(rng.choice(members, size=per_group, replace=False))
        if total + members.size > budget:
            continue
        keep.append(members)
        total += members.size
        if total == budget:
            break
    return np.sort(np.concatenate(keep)) if keep else np.zeros(0, dtype=np.int64)


def encode_examples(
    encoder: PromptEncoder, prompts: Sequence[PromptExample], labels: np.ndarray, p_hat: np.ndarray,
    report: TrainReport, progress: Callable[[Any], Any] = lambda x: x,
) -> list[TrainExample]:
    out = []
    for i in progress(range(len(prompts))):
        try:
            e = encoder.encode(prompts[i])
        except PromptTooLong:
            report.too_long += 1
            continue
        report.truncated += int(e.prompt.source_lines_dropped > 0 or e.prompt.events_dropped > 0 or e.states_dropped > 0)
        report.states_dropped += int(e.states_dropped > 0)
        out.append(TrainExample(e, int(labels[i]), p_hat[i]))
    report.examples = len(out)
    report.mean_tokens = float(np.mean([len(t.encoded.input_ids) for t in out])) if out else 0.0
    return out


def response_labels(batch: Sequence[Encoded], pad_id: int) -> tuple[Any, Any, Any, Any]:
    """Left-padded input_ids, attention_mask, position_ids and labels: every prompt and
    padding token is IGNORE, the answer's tokens (and the eos after it) are themselves."""
    import torch

    from schedcast.models.lm.scoring import left_pad

    ids, mask, positions = left_pad([e.input_ids for e in batch], pad_id)
    labels = torch.full_like(ids, IGNORE)
    width = ids.shape[1]
    for i, e in enumerate(batch):
        start = width - len(e.input_ids) + e.n_prompt
        labels[i, start:] = ids[i, start:]
    return ids, mask, positions, labels


def batch_losses(model: Any, batch: Sequence[TrainExample], pad_id: int) -> tuple[Any, Any]:
    """(CE over the answer tokens, mean KL(p̂ ‖ q) at the discriminating position)."""
    import torch
    import torch.nn.functional as F

    enc = [t.encoded for t in batch]
    ids, mask, positions, labels = response_labels(enc, pad_id)
    device = next(model.parameters()).device
    width = ids.shape[1]
    answer = max(len(e.input_ids) - e.n_prompt for e in enc)
    keep = answer + 1  # logits of the last answer+1 columns: they predict every answer token
    out = model(
        input_ids=ids.to(device), attention_mask=mask.to(device), position_ids=positions.to(device),
        logits_to_keep=keep, use_cache=False,
    )
    logits = out.logits.float()
    targets = labels[:, -answer:].to(device)
    ce = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=IGNORE)
    first_kept = width - keep
    rows = torch.arange(len(enc), device=device)
    cols = torch.tensor([width - len(e.input_ids) + e.position - first_kept for e in enc], device=device)
    kind_ids = torch.tensor(list(enc[0].kind_ids), device=device)
    log_q = torch.log_softmax(logits[rows, cols][:, kind_ids], dim=-1)
    p = torch.tensor(np.stack([t.p_hat for t in batch]), dtype=log_q.dtype, device=device)
    kl = torch.where(p > 0, p * (torch.log(p.clamp_min(1e-12)) - log_q), torch.zeros_like(p)).sum(dim=-1).mean()
    return ce, kl


class _Checkpoint:
    def __init__(self, root: Path, options: TrainOptions) -> None:
        self.root = root
        self.key = options.resume_key()

    def exists(self) -> bool:
        return (self.root / "state.pt").is_file()

    def save(self, model: Any, optimizer: Any, scheduler: Any, step: int, report: TrainReport) -> None:
        import torch

        tmp = self.root.with_name(self.root.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        model.save_pretrained(str(tmp / "adapter"))
        torch.save(
            {
                "step": step,
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "torch_rng": torch.get_rng_state(),
                "python_rng": random.getstate(),
                "report": asdict(report),
            },
            tmp / "state.pt",
        )
        (tmp / "options.json").write_text(json.dumps(self.key, indent=1))
        old = self.root.with_name(self.root.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if self.root.exists():
            self.root.replace(old)
        tmp.replace(self.root)
        shutil.rmtree(old, ignore_errors=True)

    def load(self, model: Any, optimizer: Any, scheduler: Any) -> tuple[int, dict[str, Any]]:
        import torch
        from peft import set_peft_model_state_dict
        from safetensors.torch import load_file

        try:
            saved = json.loads((self.root / "options.json").read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise LMError(f"{self.root}: unreadable checkpoint ({exc}); remove it to start over") from exc
        if saved != self.key:
            diff = sorted(k for k in set(saved) | set(self.key) if saved.get(k) != self.key.get(k))
            raise LMError(f"{self.root}: a checkpoint made with other options ({', '.join(diff)}); rerun with the same options or remove it to start over")
        try:
            weights = load_file(str(self.root / "adapter" / "adapter_model.safetensors"))
            set_peft_model_state_dict(model, weights)
            state = torch.load(self.root / "state.pt", weights_only=False)
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
        except Exception as exc:  # noqa: BLE001 - a checkpoint cut short by a crash
            raise LMError(f"{self.root}: cannot resume from this checkpoint ({type(exc).__name__}: {exc}); remove it to start over") from exc
        torch.set_rng_state(state["torch_rng"])
        random.setstate(state["python_rng"])
        return int(state["step"]), state["report"]

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def lora_model(model: Any, options: TrainOptions) -> Any:
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    if options.quantize_4bit:
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=options.gradient_checkpointing)
    elif options.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    config = LoraConfig(
        r=options.lora_r, lora_alpha=options.lora_alpha, lora_dropout=options.lora_dropout,
        target_modules=list(options.target_modules), bias="none", task_type="CAUSAL_LM",
    )
    try:
        return get_peft_model(model, config)
    except ValueError as exc:
        raise LMError(f"LoRA: {exc} (check --target-modules against the model's layer names)") from exc


def train_loop(
    model: Any, tokenizer: Any, data: list[TrainExample], options: TrainOptions, checkpoint: _Checkpoint,
    report: TrainReport, console: Any = None,
) -> Any:
    """Fine-tune `model` (a peft model) on `data`; returns it. Resumes from `checkpoint`."""
    import torch
    from transformers import get_linear_schedule_with_warmup

    if not data:
        raise LMError("no training example fits --max-length: nothing to train on")
    torch.manual_seed(options.seed)
    random.seed(options.seed)
    steps_per_epoch = math.ceil(len(data) / options.batch_size)
    total = steps_per_epoch * options.epochs
    params = [p for p in model.parameters() if p.requires_grad]
    report.trainable_parameters = int(sum(p.numel() for p in params))
    optimizer = torch.optim.AdamW(params, lr=options.learning_rate, weight_decay=0.0)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(options.warmup_ratio * total), total)
    start = 0
    if checkpoint.exists():
        start, saved = checkpoint.load(model, optimizer, scheduler)
        report.losses = list(saved.get("losses", []))
        report.seconds = float(saved.get("seconds", 0.0))
        report.resumed_from_step = start
    orders = [np.random.default_rng(options.seed + epoch).permutation(len(data)) for epoch in range(options.epochs)]
    lam = options.kl_weight if options.objective == "kl" else 0.0
    pad = tokenizer.pad_token_id
    use_autocast = options.bf16
    device_type = next(model.parameters()).device.type
    model.train()
    started = time.monotonic()
    before = report.seconds
    window: list[float] = []
    plain = console is not None and not console.is_terminal
    with _progress(console) as progress:
        task = progress.add_task(f"{options.name}: training", total=total, completed=start, loss="")
        for step in range(start, total):
            epoch, at = divmod(step, steps_per_epoch)
            idx = orders[epoch][at * options.batch_size : (at + 1) * options.batch_size]
            batch = [data[i] for i in idx.tolist()]
            with torch.autocast(device_type=device_type, dtype=torch.bfloat16, enabled=use_autocast):
                ce, kl = batch_losses(model, batch, pad)
                loss = ce + lam * kl if lam > 0 else ce
            loss.backward()
            ce, kl = ce.detach(), kl.detach()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            window.append(float(loss.detach()))
            text = f"loss {np.mean(window[-20:]):.3f} (ce {ce.item():.3f}, kl {kl.item():.3f})"
            progress.update(task, advance=1, loss=text)
            done = step + 1
            if plain:  # a log file gets one line per step: rich draws nothing there until the end
                spent = time.monotonic() - started
                eta = spent / (done - start) * (total - done)
                console.print(f"{options.name}: step {done}/{total}, {text}, {spent / (done - start):.1f} s/step, ETA {eta / 60:.1f} min", highlight=False, soft_wrap=True)
            if done % options.checkpoint_every == 0 or done == total:
                report.losses.append(float(np.mean(window)))
                window = []
                report.steps = done
                report.seconds = before + time.monotonic() - started
                checkpoint.save(model, optimizer, scheduler, done, report)
    report.steps = total
    report.seconds = before + time.monotonic() - started
    model.eval()
    return model


class _NoProgress:
    def __enter__(self) -> _NoProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def add_task(self, *args: Any, **kwargs: Any) -> int:
        return 0

    def update(self, *args: Any, **kwargs: Any) -> None:
        return None


def _progress(console: Any) -> Any:
    if console is None:
        return _NoProgress()
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[loss]}"),
        TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=console,
    )


def train_lm(view: Any, out: Path, options: TrainOptions, protocol: str = "paper", console: Any = None) -> tuple[Any, TrainReport]:
    """Fine-tune on the train split of a dataset (schedcast.dataset.access.DatasetView);
    save the predictor as OUT/<name>.json (+ OUT/<name>.adapter/). Returns (predictor,
    report)."""
    options.check()
    require_ml()
    import polars as pl

    from schedcast.models.lm.loading import load_model, load_tokenizer, resolve_model
    from schedcast.models.lm.predictor import LMPredictor

    examples, rows = view.model_examples("train", protocol)
    if len(examples) == 0:
        raise LMError(f"the train split has no {protocol} examples")
    column = {"paper": "paper_group", "state": "state_group"}.get(options.grouping)
    if column is None:
        raise LMError(f"unknown grouping {options.grouping!r}; choose paper or state")
    if options.grouping == "paper" and protocol != "paper":
        raise LMError("the paper grouping exists only for the paper protocol (use --grouping state)")
    groups_table = view.groups.filter(pl.col("grouping") == options.grouping)
    dist = dict(zip(groups_table["group_id"].to_list(), groups_table["p_hat"].to_list()))
    group_of = rows[column].to_numpy()
    keep = select_groups(group_of, options.max_examples, options.seed, options.runs_per_group)
    p_hat = np.array([dist[int(g)] for g in group_of[keep]], dtype=np.float64).reshape(-1, N_KINDS)
    p_hat /= p_hat.sum(axis=1, keepdims=True)
    labels = examples.labels[keep]
    # A prompt of max_length tokens shows at most max_length events: longer prefixes are cut first.
    prompts = [examples.prompt(int(i), max_events=options.max_length) for i in keep.tolist()]  # type: ignore[misc]

    model_dir = resolve_model(options.model)
    tokenizer = load_tokenizer(model_dir)
    encoder = PromptEncoder(tokenizer, options.prompt_format, options.max_length, options.chat)
    report = TrainReport(groups=int(np.unique(group_of[keep]).size))
    data = encode_examples(encoder, prompts, labels, p_hat, report)
    torch_seed(options.seed)
    model = load_model(model_dir, quantize_4bit=options.quantize_4bit)
    model = lora_model(model, options)
    out.mkdir(parents=True, exist_ok=True)
    checkpoint = _Checkpoint(out / f"{options.name}.checkpoint", options)
    model = train_loop(model, tokenizer, data, options, checkpoint, report, console)
    counts = np.bincount(np.array([t.label for t in data]), minlength=N_KINDS) + 0.5
    predictor = LMPredictor.from_loaded(
        model, tokenizer,
        model=options.model, prompt_format=options.prompt_format, max_length=options.max_length, chat=options.chat,
        label=options.name, prior=(counts / counts.sum()).tolist(), quantize_4bit=options.quantize_4bit,
        kind_ids=list(encoder.kind_ids or ()), train_info={"options": options.resume_key(), "report": asdict(report), "protocol": protocol},
    )
    predictor.save(out / f"{options.name}.json")
    checkpoint.remove()
    return predictor, report


def torch_seed(seed: int) -> None:
    import torch

    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed)
