"""LMPredictor: a causal LM (optionally with a LoRA adapter) behind the predictor protocol.

`predict_proba` reads the six kind-token logits at the discriminating position (no
sampling; batched; softmax over the six). `predict_moves` also scores the goroutine:
for each kind, every goroutine the prefix shows in the state that can make it (a new
one for GoCreate) is written into the answer and the LM's log-probability of the
rest of the answer is normalised over them. A base model without an adapter is the
paper's "zero-shot, same model" row.

A saved LMPredictor is a JSON file (config) plus, when fine-tuned, the peft adapter in
the folder `<file stem>.adapter` beside it.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
import weakref
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from schedcast.dataset.prompts import KIND_NAMES, PromptExample, PromptTooLong, render
from schedcast.models.base import MODEL_FORMAT_VERSION, N_KINDS, Examples, ModelError, Predictor
from schedcast.models.lm.errors import LMError

# Who can make each kind: GoBlock, GoCreate, GoEnd, GoSched, GoStart, GoUnblock.
_NEEDS = ("running", None, "running", "running", "runnable", "blocked")
UNKNOWN_GOROUTINE = 0  # predict_moves: a goroutine the prefix has not shown


@dataclass
class ScoreReport:
    """What the last predict_proba did: examples scored, examples whose prompt could not
    fit the budget (given the prior instead), source lines and events truncation dropped,
    seconds."""

    scored: int = 0
    cached: int = 0  # of `scored`, read from the score cache (not computed again)
    too_long: int = 0
    truncated: int = 0
    states_dropped: int = 0  # of `truncated`, prompts whose goroutine-states list was cut
    seconds: float = 0.0

    @property
    def per_second(self) -> float:
        """Examples computed (not read from the cache) per second."""
        computed = self.scored - self.cached
        return computed / self.seconds if self.seconds > 0 else 0.0


class LMPredictor(Predictor):
    name: ClassVar[str] = "lm"

    def __init__(
        self,
        model: str = "smollm2",
        adapter: str | None = None,
        prompt_format: str = "paper",
        max_length: int = 1024,
        chat: bool = True,
        batch_size: int = 8,
        label: str = "lm-base",
        prior: list[float] | None = None,
        quantize_4bit: bool = False,
        kind_ids: list[int] | None = None,
        train_info: dict[str, Any] | None = None,
    ) -> None:
        self.name = label  # type: ignore[misc]  # variants (base, ce, kl) keep their own names
        self.model_spec = model
        self.adapter = adapter
        self.prompt_format = prompt_format
        self.max_length = max_length
        self.chat = chat
        self.batch_size = batch_size
        self.prior = list(prior) if prior is not None else [1.0 / N_KINDS] * N_KINDS
        self.quantize_4bit = quantize_4bit
        self.kind_ids = list(kind_ids) if kind_ids is not None else None
        self.train_info = train_info or {}
        self.show_progress = sys.stderr.isatty()
        # Kind logits already computed, keyed by model fingerprint and tokens (ScoreCache);
        # set to `<file>.scores.sqlite` beside a loaded model file, None (no cache) otherwise.
        self.score_cache: Path | None = None
        self.report = ScoreReport()
        self._home: Path | None = None
        self._model: Any = None
        self._tokenizer: Any = None
        self._encoder: Any = None

    # -- building -----------------------------------------------------------------
    @classmethod
    def from_loaded(cls, loaded: Any, tokenizer: Any, **config: Any) -> LMPredictor:
        """A predictor around a model already in memory (e.g. just trained)."""
        p = cls(**config)
        p._model, p._tokenizer = loaded, tokenizer
        return p

    def loaded_from(self, path: Path) -> None:
        self._home = Path(path).parent
        self.score_cache = Path(path).with_suffix(".scores.sqlite")

    def adapter_path(self) -> Path | None:
        if self.adapter is None:
            return None
        path = Path(self.adapter)
        return path if path.is_absolute() or self._home is None else self._home / path

    def ensure_loaded(self) -> tuple[Any, Any]:
        if self._model is None:
            from schedcast.models.lm.loading import load_model, load_tokenizer, resolve_model

            model_dir = resolve_model(self.model_spec)
            tokenizer = load_tokenizer(model_dir)
            model = load_model(model_dir, quantize_4bit=self.quantize_4bit)
            adapter = self.adapter_path()
            if adapter is not None:
                if not (adapter / "adapter_config.json").is_file():
                    raise LMError(f"{self.name}: adapter folder {adapter} is missing or incomplete (no adapter_config.json)")
                from peft import PeftModel

                try:
                    model = PeftModel.from_pretrained(model, str(adapter))
                except Exception as exc:  # noqa: BLE001 - corrupt or mismatched adapter weights
                    raise LMError(f"{self.name}: cannot load the adapter {adapter} ({type(exc).__name__}: {str(exc).splitlines()[0][:300]})") from exc
            model.eval()
            self._model, self._tokenizer = model, tokenizer
        return self._model, self._tokenizer

    def fingerprint(self) -> str:
        """What the kind logits depend on besides the tokens: the model folder's files
        (name, size, mtime) and the adapter's weights (their hash)."""
        from schedcast.models.lm.loading import resolve_model

        h = hashlib.sha256()
        model_dir = resolve_model(self.model_spec)
        h.update(f"{model_dir.resolve()}|4bit={self.quantize_4bit}".encode())
        for f in sorted(model_dir.iterdir()):
            if f.is_file():
                st = f.stat()
                h.update(f"|{f.name}:{st.st_size}:{st.st_mtime_ns}".encode())
        adapter = self.adapter_path()
        if adapter is not None:
            for f in sorted(adapter.glob("*")):
                if f.is_file():
                    h.update(f.name.encode())
                    h.update(hashlib.sha256(f.read_bytes()).digest())
        return h.hexdigest()

    def encoder(self) -> Any:
        if self._encoder is None:
            from schedcast.models.lm.prompting import PromptEncoder

            _, tok = self.ensure_loaded()
            self._encoder = PromptEncoder(tok, self.prompt_format, self.max_length, self.chat)
            if self.kind_ids is not None:
                self._encoder.kind_ids = tuple(self.kind_ids)
        return self._encoder

    # -- protocol -----------------------------------------------------------------
    def fit(self, train: Examples) -> LMPredictor:
        raise LMError(f"{self.name}: fine-tune with `schedcast train lm` (schedcast.models.lm.train_lm); a base model needs no fit")

    def _prompts(self, examples: Examples) -> list[PromptExample]:
        if examples.prompt is None:
            raise ModelError(f"{self.name}: these examples carry no prompts (read them with DatasetView.model_examples)")
        max_events = self.encoder().max_length  # a prompt shows at most one event per token
        return [examples.prompt(i, max_events=max_events) for i in range(len(examples))]

    def predict_proba(self, examples: Examples) -> np.ndarray:
        import torch

        started = time.monotonic()
        model, tok = self.ensure_loaded()
        enc = self.encoder()
        if examples.prompt is None:
            raise ModelError(f"{self.name}: these examples carry no prompts (read them with DatasetView.model_examples)")
        out = np.tile(np.asarray(self.prior, dtype=np.float64), (len(examples), 1))
        seqs: list[list[int]] = []
        where: list[int] = []
        report = ScoreReport()
        # LMs that share a tokenizer and prompt options (base, CE, KL) encode each example
        # once per process.
        memo = _ENCODED.setdefault(examples.prompt, {})
        options = (str(getattr(tok, "name_or_path", "")), enc.fmt, enc.max_length, enc.chat)
        for i in _progress(list(range(len(examples))), "encoding prompts", self.show_progress):
            key = (*options, i)
            if key not in memo:
                try:
                    memo[key] = enc.encode(examples.prompt(i, max_events=enc.max_length))
                except PromptTooLong:
                    memo[key] = None
            e = memo[key]
            if e is None:
                report.too_long += 1
                continue
            if enc.kind_ids is None:
                enc.kind_ids = e.kind_ids
            report.truncated += int(e.prompt.source_lines_dropped > 0 or e.prompt.events_dropped > 0 or e.states_dropped > 0)
            report.states_dropped += int(e.states_dropped > 0)
            seqs.append(e.scoring_ids)
            where.append(i)
        if self.kind_ids is None and enc.kind_ids is not None:
            self.kind_ids = list(enc.kind_ids)
        if seqs:
            from schedcast.models.lm.scoring import kind_logits

            cache = ScoreCache.open(self.score_cache, self.fingerprint(), enc.kind_ids) if self.score_cache is not None else None
            z = np.zeros((len(seqs), N_KINDS))
            todo = list(range(len(seqs)))
            if cache is not None:
                found = cache.get(seqs)
                todo = [i for i in todo if i not in found]
                for i, row in found.items():
                    z[i] = row
                report.cached = len(found)
            if todo:
                def keep(chunk: list[int], rows: np.ndarray) -> None:
                    if cache is not None:
                        cache.put([seqs[todo[j]] for j in chunk], rows)

                z[todo] = kind_logits(
                    model, [seqs[i] for i in todo], enc.kind_ids, tok.pad_token_id, self.batch_size,
                    progress=self.show_progress, on_batch=keep,
                )
            if cache is not None:
                cache.close()
            z = torch.softmax(torch.from_numpy(z), dim=1).numpy()
            out[np.array(where)] = z
        report.scored = len(seqs)
        report.seconds = time.monotonic() - started
        self.report = report
        if len(examples) >= 50:
            from schedcast.terminal import err_console

            err_console.print(
                f"{self.name}: {report.scored} examples scored in {report.seconds:.0f} s ({report.per_second:.2f}/s"
                f"{f'; {report.cached} from the score cache' if report.cached else ''}), "
                f"{report.too_long} too long for {self.max_length} tokens (prior), {report.truncated} truncated "
                f"({report.states_dropped} of them lost goroutines from the states list)",
                highlight=False, soft_wrap=True,
            )
        return out / out.sum(axis=1, keepdims=True)

    def predict_moves(self, examples: Examples) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per example: (moves (m, 2) of (goroutine, kind), probabilities (m,)); the
        probabilities of a kind's moves sum to predict_proba's. Goroutine 0 stands for
        one the prefix has not shown (no goroutine in the state the kind needs)."""
        q = self.predict_proba(examples)
        prompts = self._prompts(examples)
        out = []
        for i, ex in enumerate(prompts):
            candidates = _candidates(ex)
            moves: list[tuple[int, int]] = []
            probs: list[float] = []
            scored = self._goroutine_scores(ex, candidates)
            for kind in range(N_KINDS):
                who = candidates[kind]
                if not who:
                    moves.append((UNKNOWN_GOROUTINE, kind))
                    probs.append(float(q[i, kind]))
                    continue
                logp = np.array(scored[kind]) if scored is not None else np.zeros(len(who))
                w = np.exp(logp - logp.max())
                w /= w.sum()
                for g, share in zip(who, w.tolist()):
                    moves.append((g, kind))
                    probs.append(float(q[i, kind]) * share)
            out.append((np.array(moves, dtype=np.int64).reshape(-1, 2), np.array(probs)))
        return out

    def _goroutine_scores(self, ex: PromptExample, candidates: list[list[int]]) -> list[list[float]] | None:
        """log p(rest of the answer | prompt, kind) for each candidate goroutine of each kind
        (None when the prompt cannot fit: the kind's mass is then shared evenly)."""
        import torch

        model, tok = self.ensure_loaded()
        enc = self.encoder()
        try:
            e = enc.encode(ex)
        except PromptTooLong:
            return None
        prefix = e.scoring_ids
        prompt_text = enc.wrap(e.prompt.prompt)
        conts: list[list[int]] = []
        owners: list[tuple[int, int]] = []
        for kind, who in enumerate(candidates):
            for g in who:
                answer = render(PromptExample("", (), {}, kind, g), enc.fmt).target
                ids = list(tok(prompt_text + answer + enc.eos_text, add_special_tokens=False)["input_ids"])
                if ids[: len(prefix)] != prefix:
                    raise LMError(f"{self.name}: the answer for {KIND_NAMES[kind]} G{g} does not extend the shared prefix")
                conts.append(ids[len(prefix) :])
                owners.append((kind, g))
        scores: list[list[float]] = [[] for _ in range(N_KINDS)]
        if not conts:
            return scores
        device = next(model.parameters()).device
        with torch.inference_mode():
            full = [prefix + c for c in conts]
            from schedcast.models.lm.scoring import right_pad

            logp = []
            for start in range(0, len(full), self.batch_size):
                chunk = full[start : start + self.batch_size]
                ids, mask = right_pad(chunk, tok.pad_token_id)
                logits = model(input_ids=ids.to(device), attention_mask=mask.to(device), use_cache=False).logits.float()
                lsm = torch.log_softmax(logits, dim=-1).cpu()
                for row, seq in enumerate(chunk):
                    # the continuation's tokens after the kind token, each predicted by the token before it
                    targets = torch.tensor(seq[len(prefix) + 1 :], dtype=torch.long)
                    at = torch.arange(len(prefix), len(seq) - 1)
                    logp.append(float(lsm[row, at, targets].sum()))
        for (kind, _), lp in zip(owners, logp):
            scores[kind].append(lp)
        return scores

    # -- persistence --------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        return {
            "model": self.model_spec,
            "adapter": self.adapter,
            "prompt_format": self.prompt_format,
            "max_length": self.max_length,
            "chat": self.chat,
            "batch_size": self.batch_size,
            "label": self.name,
            "prior": self.prior,
            "quantize_4bit": self.quantize_4bit,
            "kind_ids": self.kind_ids,
            "train_info": self.train_info,
        }

    def save(self, path: Path) -> None:
        """The JSON file, and the adapter (when the model has one) in `<stem>.adapter/`."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if self._model is not None and hasattr(self._model, "peft_config"):
            adapter_dir = path.with_name(path.stem + ".adapter")
            tmp = adapter_dir.with_name(adapter_dir.name + ".tmp")
            self._model.save_pretrained(str(tmp))
            import shutil

            shutil.rmtree(adapter_dir, ignore_errors=True)
            tmp.replace(adapter_dir)
            self.adapter = adapter_dir.name
            self._home = path.parent
        blob = {
            "schedcast_model": type(self).name,
            "format_version": MODEL_FORMAT_VERSION,
            "kinds": list(KIND_NAMES),
            "config": self.config(),
            "state": {"report": asdict(self.report)},
        }
        tmp_file = path.with_suffix(path.suffix + ".tmp")
        tmp_file.write_text(json.dumps(blob, indent=1))
        tmp_file.replace(path)


class ScoreCache:
    """Kind logits already computed, in SQLite beside the model file: a rerun of
    `schedcast evaluate`, or one after a kill, scores only what is missing. Each batch is
    committed as it is computed. Keys are hashes of (model fingerprint, kind tokens,
    token ids), so another adapter or model never reads these rows."""

    def __init__(self, db: Any, fingerprint: str, kind_ids: Any) -> None:
        self.db = db
        self.prefix = f"{fingerprint}|{list(kind_ids)}|"

    @classmethod
    def open(cls, path: Path, fingerprint: str, kind_ids: Any) -> ScoreCache | None:
        """The cache at `path`, or None (scoring goes on without it, said in one line)
        when it cannot be opened or written: a read-only model folder, a corrupt file."""
        import sqlite3

        try:
            db = sqlite3.connect(str(path), timeout=60)
            db.execute("CREATE TABLE IF NOT EXISTS logits (key TEXT PRIMARY KEY, logits BLOB NOT NULL)")
            db.commit()
        except sqlite3.Error as exc:
            from schedcast.terminal import err_console

            err_console.print(f"note: score cache {path} not used ({exc})", highlight=False, soft_wrap=True, markup=False)
            return None
        return cls(db, fingerprint, kind_ids)

    def key(self, seq: list[int]) -> str:
        return hashlib.sha256((self.prefix + ",".join(map(str, seq))).encode()).hexdigest()

    def get(self, seqs: list[list[int]]) -> dict[int, np.ndarray]:
        keys = [self.key(s) for s in seqs]
        found: dict[str, np.ndarray] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for key, blob in self.db.execute(f"SELECT key, logits FROM logits WHERE key IN ({marks})", chunk):
                row = np.frombuffer(blob, dtype=np.float64)
                if row.shape == (N_KINDS,):
                    found[key] = row
        return {i: found[k] for i, k in enumerate(keys) if k in found}

    def put(self, seqs: list[list[int]], rows: np.ndarray) -> None:
        self.db.executemany(
            "INSERT OR REPLACE INTO logits VALUES (?, ?)",
            [(self.key(s), np.asarray(r, dtype=np.float64).tobytes()) for s, r in zip(seqs, rows)],
        )
        self.db.commit()

    def close(self) -> None:
        self.db.close()


# examples.prompt -> {(tokenizer, format, max_length, chat, index): Encoded or None (too long)}
_ENCODED: weakref.WeakKeyDictionary[Any, dict[tuple[Any, ...], Any]] = weakref.WeakKeyDictionary()


def _candidates(ex: PromptExample) -> list[list[int]]:
    """Per kind, the goroutines that can make it from the replayed states."""
    status = {g: s.split(" ", 1)[0] for g, s in ex.states.items()}
    out: list[list[int]] = []
    for need in _NEEDS:
        if need is None:
            ids = set(status) | {e.g for e in ex.events}
            out.append([max(ids, default=0) + 1])
        else:
            out.append(sorted(g for g, s in status.items() if s == need))
    return out


def _progress(items: list[Any], what: str, show: bool) -> Any:
    if not show:
        return items
    from rich.progress import track

    from schedcast.terminal import err_console

    return track(items, description=what, console=err_console, transient=True)
