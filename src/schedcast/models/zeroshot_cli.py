"""`schedcast zero-shot`: a thin layer over schedcast.models.zeroshot."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from schedcast.terminal import err_console as err
from schedcast.terminal import fail


def zero_shot_cmd(
    dataset: Annotated[Path, typer.Argument(help="Dataset directory.")],
    base_url: Annotated[str, typer.Option("--base-url", help="OpenAI-compatible API root, e.g. http://127.0.0.1:8000/v1")],
    model: Annotated[str, typer.Option("--model", help="Model name the endpoint serves.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Predictor file to write (for `schedcast evaluate`).")] = Path("schedcast-models/zero-shot.json"),
    split: Annotated[str, typer.Option(help="train | val | test")] = "test",
    protocol: Annotated[str, typer.Option(help="paper | all")] = "paper",
    name: Annotated[str, typer.Option(help="Row name in the results (default: zero-shot MODEL).")] = "",
    prompt_format: Annotated[str, typer.Option("--prompt-format", help="paper | compact")] = "paper",
    max_prompt_tokens: Annotated[int, typer.Option(help="Prompt budget, counted with SmolLM2's tokenizer.")] = 4096,
    concurrency: Annotated[int, typer.Option(help="Requests in flight at once.")] = 4,
    retries: Annotated[int, typer.Option(help="Retries per request (timeouts, connection errors, 429, 5xx).")] = 4,
    timeout: Annotated[float, typer.Option(help="Seconds per request.")] = 60.0,
    max_tokens: Annotated[int, typer.Option(help="Answer length limit, tokens.")] = 64,
    logprobs: Annotated[bool, typer.Option("--logprobs/--no-logprobs", help="Ask for log-probabilities (dropped by itself if the server refuses).")] = True,
    api_key_env: Annotated[str, typer.Option(help="Environment variable holding the API key (never stored).")] = "OPENAI_API_KEY",
    cache: Annotated[Optional[Path], typer.Option(help="Response cache (SQLite; default in the schedcast cache).")] = None,
    limit: Annotated[Optional[int], typer.Option(help="Only the first N examples (a quick look).")] = None,
) -> None:
    """Ask a model behind any OpenAI-compatible endpoint for the next event of every
    example, with the paper's prompt; answers are cached, malformed ones counted."""
    from schedcast.dataset.schema import SchemaError
    from schedcast.models.base import ModelError
    from schedcast.models.zeroshot import zero_shot_cmd as run

    try:
        predictor, accuracy, n = run(
            dataset, base_url, model, out, split, protocol, name, prompt_format, max_prompt_tokens, concurrency,
            retries, timeout, max_tokens, logprobs, api_key_env, cache, limit,
        )
    except (SchemaError, ModelError, OSError) as exc:
        fail(escape(str(exc)))
    except KeyboardInterrupt:
        fail("interrupted; every answer received is cached: rerun the same command to continue", code=130)
    r = predictor.report
    err.print(
        f"{predictor.name}: {n} examples, {r.requests} asked ({r.cached} from the cache), {r.malformed} malformed, "
        f"{r.failed} failed, {r.too_long} too long; {r.with_logprobs} with log-probabilities; "
        f"tokens {r.prompt_tokens:,} prompt + {r.completion_tokens:,} completion; {r.retries} retries; {r.seconds:.1f} s; "
        f"accuracy {100 * accuracy:.1f} % (malformed and failed count as wrong) -> {out}",
        highlight=False, soft_wrap=True,
    )
    for why in r.malformed_examples:
        err.print(f"  malformed: {escape(why)}", highlight=False, soft_wrap=True)
    for why in r.errors:
        err.print(f"  failed: {escape(why)}", highlight=False, soft_wrap=True)
    if r.failed:
        fail(f"{r.failed} requests failed; the {r.requests - r.failed} answers received are cached: rerun to retry the rest")
