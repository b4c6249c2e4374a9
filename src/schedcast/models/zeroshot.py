"""Zero-shot next-event prediction through any OpenAI-compatible endpoint.

The paper's prompt (schedcast.dataset.prompts, paper format) goes to
`POST {base_url}/chat/completions` (temperature 0); the answer must be exactly the JSON
object `{"event_type": KIND, "goroutine_id": N}` (whitespace around it and one
enclosing Markdown code fence are tolerated, nothing else): anything else is counted
as malformed, with the reason, never dropped. Where the server returns
log-probabilities, the token that decides the kind gives a distribution over the six
kinds (the alternatives' probabilities summed per kind, renormalised); otherwise the
parsed answer gets 1 - ε and the other kinds share ε. Malformed answers and requests
that failed get the uniform distribution in `predict_proba` (and count as wrong in the
command's own summary).

Requests run `concurrency` at a time; timeouts, connection errors, 429 and 5xx are
retried with exponential backoff (honouring Retry-After). Every answer received is
stored at once in a SQLite cache keyed by the request, so a rerun (or a run after a
crash) sends only what is missing. Token counts come from the server's `usage`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from schedcast.dataset.prompts import KIND_NAMES, PromptExample, PromptTooLong, render, truncate
from schedcast.models.base import N_KINDS, Examples, ModelError, Predictor

RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}
_FENCE = re.compile(r"^```(?:json)?\s*\n?(.*?)\n?```$", re.DOTALL)
_COMPACT = re.compile(r"^(" + "|".join(KIND_NAMES) + r") G(\d+)$")


class EndpointError(ModelError):
    """The endpoint cannot be used at all (unreachable, refuses every request)."""


@dataclass
class Answer:
    kind: int | None = None
    g: int | None = None
    malformed: str | None = None  # why the answer could not be parsed
    error: str | None = None  # the request failed (after retries)
    dist: list[float] | None = None  # from log-probabilities, when the server sent them
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached: bool = False
    text: str = ""


@dataclass
class ZeroShotReport:
    requests: int = 0
    cached: int = 0
    malformed: int = 0
    failed: int = 0
    with_logprobs: int = 0
    too_long: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    retries: int = 0
    seconds: float = 0.0
    malformed_examples: list[str] = field(default_factory=list)  # a few, for the user to see
    errors: list[str] = field(default_factory=list)


def parse_answer(text: str, fmt: str = "paper") -> tuple[int | None, int | None, str | None]:
    """(kind index, goroutine id, None) or (None, None, why it is malformed)."""
    body = text.strip()
    fence = _FENCE.match(body)
    if fence:
        body = fence.group(1).strip()
    if fmt == "compact":
        m = _COMPACT.match(body)
        if not m:
            return None, None, f"not 'KIND G<id>': {body[:80]!r}"
        return KIND_NAMES.index(m.group(1)), int(m.group(2)), None
    try:
        obj = json.loads(body)
    except json.JSONDecodeError as exc:
        return None, None, f"not JSON ({exc.msg}): {body[:80]!r}"
    if not isinstance(obj, dict):
        return None, None, f"JSON but not an object: {body[:80]!r}"
    if set(obj) != {"event_type", "goroutine_id"}:
        return None, None, f"keys {sorted(obj)}, expected event_type and goroutine_id"
    kind, g = obj["event_type"], obj["goroutine_id"]
    if kind not in KIND_NAMES:
        return None, None, f"unknown event_type {kind!r}"
    if isinstance(g, bool) or not isinstance(g, int):
        return None, None, f"goroutine_id {g!r} is not an integer"
    return KIND_NAMES.index(kind), g, None


def kind_distribution(content: str, logprobs: Sequence[dict[str, Any]]) -> list[float] | None:
    """The six-kind distribution from the chat completion's per-token log-probabilities:
    at the token that holds the character after "Go" of the answer's kind, each
    alternative (top_logprobs) is read as the text it would have put there; its
    probability goes to the kind that text spells (alternatives that spell none are
    left out). None when the kind cannot be located in the tokens."""
    m = re.search(r"Go(Block|Create|End|Sched|Start|Unblock)", content)
    if m is None or not logprobs:
        return None
    decide = m.start() + 2  # the first character that differs between kinds
    offset = 0
    for tok in logprobs:
        text = tok.get("token", "")
        if offset <= decide < offset + len(text):
            before = content[m.start() : offset]  # the kind's text before this token ("Go", "", ...)
            lead = content[offset:m.start()] if offset < m.start() else ""
            mass = np.zeros(N_KINDS)
            for alt in tok.get("top_logprobs") or [{"token": text, "logprob": tok.get("logprob", 0.0)}]:
                alt_text = alt.get("token", "")
                if lead:
                    if not alt_text.startswith(lead):
                        continue
                    alt_text = alt_text[len(lead) :]
                spelled = before + alt_text
                hits = [k for k, name in enumerate(KIND_NAMES) if len(spelled) > 2 and (name.startswith(spelled) or spelled.startswith(name))]
                if len(hits) == 1:
                    mass[hits[0]] += float(np.exp(alt.get("logprob", -np.inf)))
            if mass.sum() <= 0:
                return None
            return (mass / mass.sum()).tolist()
        offset += len(text)
    return None


class ResponseCache:
    """Answers already received, keyed by a hash of (base URL, request body)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(str(path), check_same_thread=False)
            self._db.execute("CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, body TEXT NOT NULL)")
            self._db.commit()
        except sqlite3.DatabaseError as exc:
            raise EndpointError(f"{path}: the response cache is unreadable ({exc}); move it away to start a new one") from exc

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT body FROM responses WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, key: str, body: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO responses VALUES (?, ?)", (key, json.dumps(body)))
            self._db.commit()


def default_cache_path() -> Path:
    from schedcast.toolchain import cache_dir

    return cache_dir() / "zeroshot" / "responses.sqlite"


@dataclass
class EndpointOptions:
    base_url: str
    model: str
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = 4
    retries: int = 4
    timeout: float = 60.0
    max_tokens: int = 64
    logprobs: bool = True
    top_logprobs: int = 20
    backoff: float = 1.0  # seconds before the first retry; doubles each time (at most 30 s)


class EndpointClient:
    def __init__(self, options: EndpointOptions, cache: ResponseCache | None) -> None:
        import httpx

        if options.concurrency < 1 or options.retries < 0 or options.timeout <= 0:
            raise EndpointError("--concurrency must be >= 1, --retries >= 0 and --timeout > 0")
        self.options = options
        self.cache = cache
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(options.api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        self.url = options.base_url.rstrip("/") + "/chat/completions"
        self._http = httpx.Client(headers=headers, timeout=options.timeout)
        self.logprobs = options.logprobs
        self.retries_done = 0
        self._lock = threading.Lock()

    def close(self) -> None:
        self._http.close()

    def _body(self, prompt: str, logprobs: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.options.model,
            "messages": [{"role": "user", "content": prompt}],
            "temperature": 0,
            "max_tokens": self.options.max_tokens,
        }
        if logprobs:
            body["logprobs"] = True
            body["top_logprobs"] = self.options.top_logprobs
        return body

    def _key(self, body: dict[str, Any]) -> str:
        return hashlib.sha256(json.dumps([self.url, body], sort_keys=True).encode()).hexdigest()

    def _post(self, body: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None, int | None]:
        """(response JSON, None, status) or (None, error, status) after retries."""
        import httpx

        delay = self.options.backoff
        error = "no attempt"
        status: int | None = None
        for attempt in range(self.options.retries + 1):
            if attempt:
                with self._lock:
                    self.retries_done += 1
                time.sleep(delay)
                delay = min(delay * 2, 30.0)
            try:
                r = self._http.post(self.url, json=body)
            except httpx.TimeoutException:
                error, status = f"timed out after {self.options.timeout:g} s", None
                continue
            except httpx.HTTPError as exc:
                error, status = f"{type(exc).__name__}: {exc}", None
                continue
            status = r.status_code
            if r.status_code == 200:
                try:
                    data = r.json()
                except ValueError:
                    error = f"HTTP 200 but the body is not JSON: {r.text[:120]!r}"
                    continue
                if not isinstance(data, dict) or not data.get("choices"):
                    error = f"HTTP 200 but no choices in the response: {r.text[:120]!r}"
                    continue
                return data, None, status
            error = f"HTTP {r.status_code}: {r.text[:200]}"
            if r.status_code not in RETRY_STATUS:
                return None, error, status
            retry_after = r.headers.get("retry-after")
            if retry_after and retry_after.replace(".", "", 1).isdigit():
                delay = min(max(delay, float(retry_after)), 60.0)
        return None, error, status

    def ask(self, prompt: str, fmt: str) -> Answer:
        body = self._body(prompt, self.logprobs)
        key = self._key(body)
        cached = self.cache.get(key) if self.cache is not None else None
        if cached is not None:
            return self._answer(cached, fmt, cached=True)
        data, error, status = self._post(body)
        if data is None and self.logprobs and status in (400, 422) and error and "logprob" in error.lower():
            # The server refuses log-probabilities: ask without them from now on.
            self.logprobs = False
            return self.ask(prompt, fmt)
        if data is None:
            return Answer(error=error)
        if self.cache is not None:
            self.cache.put(key, data)
        return self._answer(data, fmt, cached=False)

    def _answer(self, data: dict[str, Any], fmt: str, cached: bool) -> Answer:
        choice = data["choices"][0]
        content = ((choice.get("message") or {}).get("content")) or ""
        usage = data.get("usage") or {}
        kind, g, why = parse_answer(content, fmt)
        dist = None
        lp = choice.get("logprobs") or {}
        if kind is not None and isinstance(lp, dict) and lp.get("content"):
            dist = kind_distribution(content, lp["content"])
        return Answer(
            kind=kind, g=g, malformed=why, dist=dist, cached=cached, text=content,
            prompt_tokens=int(usage.get("prompt_tokens") or 0), completion_tokens=int(usage.get("completion_tokens") or 0),
        )

    def ask_all(self, prompts: Sequence[str], fmt: str, on_done: Callable[[], None] | None = None) -> list[Answer]:
        def one(p: str) -> Answer:
            a = self.ask(p, fmt)
            if on_done is not None:
                on_done()
            return a

        with ThreadPoolExecutor(max_workers=self.options.concurrency) as pool:
            return list(pool.map(one, prompts))


class ZeroShotPredictor(Predictor):
    """A model behind an OpenAI-compatible endpoint, asked with the paper's prompt."""

    name: ClassVar[str] = "zero-shot"

    def __init__(
        self,
        base_url: str,
        model: str,
        label: str = "",
        prompt_format: str = "paper",
        max_prompt_tokens: int = 4096,
        smoothing: float = 0.01,
        api_key_env: str = "OPENAI_API_KEY",
        concurrency: int = 4,
        retries: int = 4,
        timeout: float = 60.0,
        max_tokens: int = 64,
        logprobs: bool = True,
        cache: str | None = None,
    ) -> None:
        if prompt_format not in ("paper", "compact"):
            raise ModelError(f"unknown prompt format {prompt_format!r}; choose paper or compact")
        if not 0 <= smoothing < 1:
            raise ModelError(f"--smoothing must be in [0, 1) (got {smoothing})")
        self.name = label or f"zero-shot {model}"  # type: ignore[misc]
        self.endpoint = EndpointOptions(base_url, model, api_key_env, concurrency, retries, timeout, max_tokens, logprobs)
        self.prompt_format = prompt_format
        self.max_prompt_tokens = max_prompt_tokens
        self.smoothing = smoothing
        self.cache = cache
        self.report = ZeroShotReport()
        self.answers: list[Answer] = []
        self.show_progress = False

    def fit(self, train: Examples) -> ZeroShotPredictor:
        return self  # zero-shot: nothing to fit

    def prompt_text(self, ex: PromptExample) -> str:
        from schedcast.dataset.tokenizer import count_tokens

        return truncate(ex, self.max_prompt_tokens, count_tokens, self.prompt_format).prompt

    def predict_proba(self, examples: Examples) -> np.ndarray:
        if examples.prompt is None:
            raise ModelError(f"{self.name}: these examples carry no prompts (read them with DatasetView.model_examples)")
        started = time.monotonic()
        report = ZeroShotReport()
        texts: list[str] = []
        where: list[int] = []
        for i in range(len(examples)):
            try:
                texts.append(self.prompt_text(examples.prompt(i, max_events=self.max_prompt_tokens)))
                where.append(i)
            except PromptTooLong:
                report.too_long += 1
        cache = ResponseCache(Path(self.cache) if self.cache else default_cache_path())
        client = EndpointClient(self.endpoint, cache)
        try:
            answers = self._ask(client, texts)
        finally:
            client.close()
        out = np.full((len(examples), N_KINDS), 1.0 / N_KINDS)
        full: list[Answer] = [Answer(error="prompt too long") for _ in range(len(examples))]
        for i, a in zip(where, answers):
            full[i] = a
            report.requests += 1
            report.cached += int(a.cached)
            report.prompt_tokens += a.prompt_tokens
            report.completion_tokens += a.completion_tokens
            if a.error is not None:
                report.failed += 1
                if len(report.errors) < 5:
                    report.errors.append(a.error)
            elif a.malformed is not None:
                report.malformed += 1
                if len(report.malformed_examples) < 5:
                    report.malformed_examples.append(a.malformed)
            elif a.dist is not None:
                report.with_logprobs += 1
                out[i] = a.dist
            else:
                assert a.kind is not None
                out[i] = self.smoothing / (N_KINDS - 1)
                out[i, a.kind] = 1.0 - self.smoothing
        report.retries = client.retries_done
        report.seconds = time.monotonic() - started
        self.report = report
        self.answers = full
        if report.requests and report.failed == report.requests and report.cached == 0:
            raise EndpointError(f"{self.endpoint.base_url}: every request failed ({report.errors[0]})")
        out = np.clip(out, 0.0, None)
        return out / out.sum(axis=1, keepdims=True)

    def _ask(self, client: EndpointClient, texts: list[str]) -> list[Answer]:
        if not self.show_progress:
            return client.ask_all(texts, self.prompt_format)
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        from schedcast.terminal import err_console

        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(), console=err_console, transient=True) as progress:
            task = progress.add_task(f"asking {self.endpoint.model}", total=len(texts))
            return client.ask_all(texts, self.prompt_format, on_done=lambda: progress.advance(task))

    def config(self) -> dict[str, Any]:
        e = self.endpoint
        return {
            "base_url": e.base_url, "model": e.model, "label": self.name, "prompt_format": self.prompt_format,
            "max_prompt_tokens": self.max_prompt_tokens, "smoothing": self.smoothing, "api_key_env": e.api_key_env,
            "concurrency": e.concurrency, "retries": e.retries, "timeout": e.timeout, "max_tokens": e.max_tokens,
            "logprobs": e.logprobs, "cache": self.cache,
        }

    def state(self) -> dict[str, Any]:
        return {"report": asdict(self.report)}

    def save(self, path: Path) -> None:
        from schedcast.models.base import MODEL_FORMAT_VERSION

        blob = {
            "schedcast_model": type(self).name, "format_version": MODEL_FORMAT_VERSION, "kinds": list(KIND_NAMES),
            "config": self.config(), "state": self.state(),
        }
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(blob, indent=1))


def accuracy_counting_failures(answers: Sequence[Answer], labels: np.ndarray) -> float:
    """Accuracy where malformed answers and failed requests count as wrong."""
    if not len(answers):
        return float("nan")
    right = sum(1 for a, y in zip(answers, labels.tolist()) if a.error is None and a.malformed is None and a.kind == y)
    return right / len(answers)


__all__ = [
    "Answer", "EndpointClient", "EndpointError", "EndpointOptions", "ResponseCache", "ZeroShotPredictor",
    "ZeroShotReport", "accuracy_counting_failures", "default_cache_path", "kind_distribution", "parse_answer", "render",
]


def zero_shot_cmd(
    dataset: Path,
    base_url: str,
    model: str,
    out: Path,
    split: str = "test",
    protocol: str = "paper",
    label: str = "",
    prompt_format: str = "paper",
    max_prompt_tokens: int = 4096,
    concurrency: int = 4,
    retries: int = 4,
    timeout: float = 60.0,
    max_tokens: int = 64,
    logprobs: bool = True,
    api_key_env: str = "OPENAI_API_KEY",
    cache: Path | None = None,
    limit: int | None = None,
) -> tuple[ZeroShotPredictor, float, int]:
    """Ask the endpoint about every example of the split; save the predictor file (its
    answers stay in the cache, so `schedcast evaluate` and reruns send nothing).
    Returns (predictor, accuracy counting malformed and failed as wrong, examples)."""
    from schedcast.dataset.access import DatasetView

    view = DatasetView(dataset)
    examples, _ = view.model_examples(split, protocol)
    if len(examples) == 0:
        raise ModelError(f"split {split!r} has no {protocol} examples")
    if limit is not None:
        examples = examples.subset(np.arange(min(limit, len(examples))))
    predictor = ZeroShotPredictor(
        base_url, model, label, prompt_format, max_prompt_tokens, 0.01, api_key_env, concurrency, retries, timeout,
        max_tokens, logprobs, str(cache) if cache else None,
    )
    predictor.show_progress = True
    predictor.predict_proba(examples)
    predictor.save(out)
    return predictor, accuracy_counting_failures(predictor.answers, examples.labels), len(examples)
