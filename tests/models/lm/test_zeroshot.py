"""The zero-shot client against real servers on 127.0.0.1: `transformers serve` with the
local SmolLM2, and a small HTTP server of the test's own that misbehaves on purpose
(rate limits, errors, garbage, slowness) to check retries, counting and the cache."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from schedcast.dataset.access import DatasetView
from schedcast.models.base import load_predictor
from schedcast.models.zeroshot import (
    EndpointClient,
    EndpointError,
    EndpointOptions,
    ResponseCache,
    ZeroShotPredictor,
    kind_distribution,
    parse_answer,
)


def test_parse_answer_is_strict() -> None:
    assert parse_answer('{"event_type": "GoBlock", "goroutine_id": 3}') == (0, 3, None)
    assert parse_answer(' ```json\n{"event_type": "GoUnblock", "goroutine_id": 12}\n``` ') == (5, 12, None)
    for bad in (
        'The next event is {"event_type": "GoBlock", "goroutine_id": 3}',
        '{"event_type": "GoBlock", "goroutine_id": "3"}',
        '{"event_type": "GoBlock", "goroutine_id": true}',
        '{"event_type": "GoPark", "goroutine_id": 3}',
        '{"event_type": "GoBlock"}',
        '{"event_type": "GoBlock", "goroutine_id": 3, "why": "x"}',
        '["GoBlock", 3]',
        "",
    ):
        kind, g, why = parse_answer(bad)
        assert kind is None and g is None and why, bad
    assert parse_answer("GoSched G4", "compact") == (3, 4, None)
    assert parse_answer("GoSched 4", "compact")[2] is not None


def test_kind_distribution_from_token_logprobs() -> None:
    content = '{"event_type": "GoUnblock", "goroutine_id": 2}'
    ln = np.log
    tokens = [
        {"token": '{"', "logprob": 0.0, "top_logprobs": []},
        {"token": "event_type", "logprob": 0.0, "top_logprobs": []},
        {"token": '": "', "logprob": 0.0, "top_logprobs": []},
        {"token": "Go", "logprob": 0.0, "top_logprobs": []},
        {"token": "Un", "logprob": ln(0.5), "top_logprobs": [
            {"token": "Un", "logprob": ln(0.5)}, {"token": "Block", "logprob": ln(0.3)},
            {"token": "Start", "logprob": ln(0.1)}, {"token": "Parse", "logprob": ln(0.05)},
        ]},
        {"token": "block", "logprob": 0.0, "top_logprobs": []},
        {"token": '", "goroutine_id": 2}', "logprob": 0.0, "top_logprobs": []},
    ]
    d = kind_distribution(content, tokens)
    assert d is not None
    np.testing.assert_allclose(d, np.array([0.3, 0, 0, 0, 0.1, 0.5]) / 0.9)
    # a tokenizer that keeps the quote and "Go" with the kind: '"GoBlock'
    merged = [{"token": '{"event_type": ', "logprob": 0.0, "top_logprobs": []},
              {"token": '"GoEnd', "logprob": ln(0.6), "top_logprobs": [{"token": '"GoEnd', "logprob": ln(0.6)}, {"token": '"GoCreate', "logprob": ln(0.2)}]},
              {"token": '", "goroutine_id": 1}', "logprob": 0.0}]
    d = kind_distribution('{"event_type": "GoEnd", "goroutine_id": 1}', merged)
    np.testing.assert_allclose(d, [0, 0.25, 0.75, 0, 0, 0])
    assert kind_distribution("no kind here", tokens) is None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answer_body(content: str, logprobs: list | None = None) -> dict:
    choice = {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
    if logprobs is not None:
        choice["logprobs"] = {"content": logprobs}
    return {"choices": [choice], "usage": {"prompt_tokens": 100, "completion_tokens": 12}}


class Script:
    """What the misbehaving server answers, request after request."""

    def __init__(self, steps: list[tuple[int, object, float]]) -> None:
        self.steps = steps
        self.requests: list[dict] = []
        self.lock = threading.Lock()

    def next(self, body: dict) -> tuple[int, object, float]:
        with self.lock:
            self.requests.append(body)
            return self.steps.pop(0) if self.steps else (500, "script exhausted", 0.0)


@pytest.fixture
def flaky_server():  # type: ignore[no-untyped-def]
    servers = []

    def start(script: Script) -> str:
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                status, payload, delay = script.next(body)
                time.sleep(delay)
                data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    if status == 429:
                        self.send_header("Retry-After", "0")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        server = ThreadingHTTPServer(("127.0.0.1", _free_port()), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/v1"

    yield start
    for s in servers:
        s.shutdown()
        s.server_close()


def test_retries_rate_limits_errors_and_garbage_then_caches(flaky_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    good = _answer_body('{"event_type": "GoStart", "goroutine_id": 2}')
    script = Script([(429, "slow down", 0.0), (503, "overloaded", 0.0), (200, "<html>not json</html>", 0.0), (200, good, 0.0)])
    url = flaky_server(script)
    cache = ResponseCache(tmp_path / "c.sqlite")
    client = EndpointClient(EndpointOptions(url, "m", retries=4, backoff=0.01, concurrency=1), cache)
    a = client.ask("prompt one", "paper")
    assert (a.kind, a.g, a.error, a.malformed, a.cached) == (4, 2, None, None, False)
    assert client.retries_done == 3 and len(script.requests) == 4
    assert a.prompt_tokens == 100 and a.completion_tokens == 12
    again = client.ask("prompt one", "paper")  # the answer is cached: nothing is sent
    assert again.cached and again.kind == 4 and len(script.requests) == 4


def test_slow_and_failing_endpoint_is_counted_and_nothing_is_lost(flaky_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    good = _answer_body('{"event_type": "GoBlock", "goroutine_id": 1}')
    script = Script([(200, good, 0.0), (200, good, 2.0), (200, good, 2.0)])  # the second request is too slow, twice
    url = flaky_server(script)
    cache = ResponseCache(tmp_path / "c.sqlite")
    client = EndpointClient(EndpointOptions(url, "m", retries=1, timeout=0.5, backoff=0.01, concurrency=1), cache)
    answers = client.ask_all(["p1", "p2"], "paper")
    assert answers[0].kind == 0 and answers[1].error is not None and "timed out" in answers[1].error
    # rerun: the first comes from the cache, only the second is asked again
    script.steps = [(200, _answer_body("I think it is GoBlock"), 0.0)]
    n = len(script.requests)
    answers = client.ask_all(["p1", "p2"], "paper")
    assert answers[0].cached and len(script.requests) == n + 1
    assert answers[1].malformed is not None and "not JSON" in answers[1].malformed


def test_logprobs_refused_by_the_server_are_dropped(flaky_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    good = _answer_body('{"event_type": "GoEnd", "goroutine_id": 1}')
    script = Script([(400, '{"error": "logprobs is not supported"}', 0.0), (200, good, 0.0)])
    client = EndpointClient(EndpointOptions(flaky_server(script), "m", backoff=0.01), None)
    a = client.ask("p", "paper")
    assert a.kind == 2 and client.logprobs is False
    assert "logprobs" in script.requests[0] and "logprobs" not in script.requests[1]


@pytest.fixture(scope="module")
def smollm2_server():  # type: ignore[no-untyped-def]
    """`transformers serve` on 127.0.0.1 with the converted SmolLM2 (offline)."""
    from schedcast.models.lm.loading import ensure_smollm2

    model_dir = ensure_smollm2()
    port = _free_port()
    exe = Path(sys.executable).with_name("transformers")
    proc = subprocess.Popen(
        [str(exe), "serve", "--host", "127.0.0.1", "--port", str(port), str(model_dir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    import httpx

    deadline = time.monotonic() + 240
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"transformers serve exited: {proc.stderr.read()[-2000:] if proc.stderr else ''}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("transformers serve did not become ready in 240 s")
            time.sleep(0.5)
        yield f"http://127.0.0.1:{port}/v1", str(model_dir), proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_zero_shot_against_a_real_server(smollm2_server, builtin_dataset: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from schedcast.cli import app

    url, model, proc = smollm2_server
    out = tmp_path / "models" / "zs.json"
    cache = tmp_path / "cache.sqlite"
    args = ["zero-shot", str(builtin_dataset), "--base-url", url, "--model", model, "--split", "train", "--limit", "3",
            "--max-tokens", "20", "--max-prompt-tokens", "400", "--concurrency", "1", "--timeout", "300", "--retries", "1",
            "--cache", str(cache), "--out", str(out), "--name", "smollm2 zero-shot"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.stderr
    assert "3 examples, 3 asked (0 from the cache)" in result.stderr
    assert "malformed" in result.stderr and "prompt +" in result.stderr
    report = json.loads(out.read_text())["state"]["report"]
    assert report["requests"] == 3 and report["failed"] == 0 and report["prompt_tokens"] > 3 * 200
    assert report["with_logprobs"] == 0  # transformers serve ignores logprobs: answers are parsed, not scored
    # the saved predictor evaluates from the cache, even with the server gone
    proc.terminate()
    proc.wait(timeout=20)
    zs = load_predictor(out)
    assert isinstance(zs, ZeroShotPredictor) and zs.name == "smollm2 zero-shot"
    examples, _ = DatasetView(builtin_dataset).model_examples("train")
    q = zs.predict_proba(examples.subset(np.arange(3)))
    np.testing.assert_allclose(q.sum(axis=1), 1.0)
    assert zs.report.cached == 3 and zs.report.failed == 0
    assert zs.report.malformed == report["malformed"]


def test_endpoint_down_is_one_line(builtin_dataset: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from schedcast.cli import app

    url = f"http://127.0.0.1:{_free_port()}/v1"  # nothing listens there
    result = CliRunner().invoke(app, ["zero-shot", str(builtin_dataset), "--base-url", url, "--model", "m", "--split", "train",
                                      "--limit", "2", "--retries", "0", "--cache", str(tmp_path / "c.sqlite"), "--out", str(tmp_path / "z.json")])
    assert result.exit_code == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "every request failed" in lines[0], result.stderr
    assert not (tmp_path / "z.json").exists()
    with pytest.raises(EndpointError):
        ResponseCache(_garbage(tmp_path / "bad.sqlite"))


def _garbage(path: Path) -> Path:
    path.write_bytes(b"this is not a database" * 100)
    return path
