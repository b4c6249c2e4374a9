"""Prompts under token budgets (real SmolLM2 tokenizer), and the two exports."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import polars as pl
import pytest

from schedcast.collect import RunConfig, collect
from schedcast.corpus.program import load_program
from schedcast.dataset import BuildOptions, build_dataset
from schedcast.dataset.access import DatasetView
from schedcast.dataset.export import export_hf, export_paper_jsonl
from schedcast.dataset.prompts import FORMATS, PromptEvent, PromptExample, PromptTooLong, goroutine_states, render, truncate
from schedcast.dataset.tokenizer import count_tokens, smollm2_tokenizer


@pytest.fixture(scope="module")
def view(builtin_dataset: Path) -> DatasetView:
    return DatasetView(builtin_dataset)


def test_tokenizer_is_smollm2() -> None:
    tok = smollm2_tokenizer()
    assert tok.get_vocab_size() == 49152
    # All six kinds share the first token "Go": the discriminating token comes second.
    for kind in ("GoBlock", "GoCreate", "GoEnd", "GoSched", "GoStart", "GoUnblock"):
        assert tok.encode(kind).tokens[0] == "Go"
    assert tok.encode("func main() {").tokens == ["func", "Ġmain", "()", "Ġ{"]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("budget", [160, 4096])
def test_truncation_never_cuts_the_target(view: DatasetView, fmt: str, budget: int) -> None:
    examples = view.examples.filter(pl.col("protocol") == "paper")
    checked = 0
    for _, ex in view.iter_prompt_examples(examples):
        full = render(ex, fmt)
        try:
            p = truncate(ex, budget, count_tokens, fmt)
        except PromptTooLong:
            # Only when even the bare prompt (no source, no trace) cannot fit.
            bare = truncate(ex, 10**9, count_tokens, fmt)
            assert count_tokens(bare.prompt + bare.target) > budget or budget < 200
            continue
        checked += 1
        assert p.target == full.target  # the target is never touched
        assert p.tokens == count_tokens(p.prompt + p.target) <= budget
        if p.events_dropped:
            assert p.source_lines_dropped == len(ex.source.splitlines())  # source goes first
        if count_tokens(full.prompt + full.target) <= budget:
            assert (p.source_lines_dropped, p.events_dropped) == (0, 0) and p.prompt == full.prompt
        else:
            assert p.source_lines_dropped > 0
    assert checked > 50


def test_truncation_drops_oldest_events_after_source() -> None:
    events = [PromptEvent(1, g) for g in range(1, 40)] + [PromptEvent(4, 1)]
    ex = PromptExample("package main\n" + "// filler line\n" * 50, events, goroutine_states(events), 0, 1)
    p = truncate(ex, 450, count_tokens, "compact")  # the bare prompt (39 goroutine states) takes ~340
    assert p.source_lines_dropped == 51 and 0 < p.events_dropped < len(events)
    assert p.prompt.rstrip().endswith("next:") and "G1 GoStart" in p.prompt  # the newest event stays
    with pytest.raises(PromptTooLong):
        truncate(ex, 10, count_tokens, "compact")


def test_goroutine_states_replay() -> None:
    events = [PromptEvent(1, 1), PromptEvent(4, 1), PromptEvent(1, 2), PromptEvent(0, 1, "chan receive", "prog/main.go:9"), PromptEvent(4, 2), PromptEvent(2, 2)]
    assert goroutine_states(events) == {1: "blocked (chan receive) at prog/main.go:9", 2: "dead"}


def test_paper_jsonl_round_trip(view: DatasetView, tmp_path: Path) -> None:
    out = tmp_path / "examples.jsonl"
    n = export_paper_jsonl(view.root, out)
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert n == len(lines) == view.examples.filter((pl.col("protocol") == "paper") & (pl.col("label") >= 0)).height
    for rec in lines[:50]:
        assert set(rec) >= {"program_source", "partial_trace", "next_event", "split_percent", "goroutine_states"}
        assert rec["split_percent"] in (25, 50, 75)
        assert sum(rec["distribution"].values()) == pytest.approx(1.0)
        assert rec["distribution"][rec["next_event"]["event_type"]] > 0  # its own label was observed


def test_hf_export_round_trip(view: DatasetView, tmp_path: Path) -> None:
    counts = export_hf(view.root, tmp_path / "hf", protocol="paper", fmt="compact")
    loaded = datasets.load_from_disk(str(tmp_path / "hf"))
    assert {split: len(ds) for split, ds in loaded.items()} == counts
    row = loaded["train"][0]
    assert row["target"].split()[0] in ("GoBlock", "GoCreate", "GoEnd", "GoSched", "GoStart", "GoUnblock")
    assert len(row["paper_distribution"]) == 6 and abs(sum(row["paper_distribution"]) - 1) < 1e-5


PING_PONG = """package main

// 60 round trips on unbuffered channels: every run has hundreds of program events.
func main() {
	ping, pong := make(chan int), make(chan int)
	go func() {
		for v := range ping {
			pong <- v + 1
		}
		close(pong)
	}()
	for i := 0; i < 60; i++ {
		ping <- i
		<-pong
	}
	close(ping)
	<-pong
}
"""


@pytest.fixture(scope="module")
def long_runs(tmp_path_factory: pytest.TempPathFactory) -> DatasetView:
    """A program whose runs are longer than the budgets below (the built-in programs'
    runs can all stay under 80 events)."""
    root = tmp_path_factory.mktemp("long-runs")
    src = root / "src" / "ping_pong"
    src.mkdir(parents=True)
    (src / "main.go").write_text(PING_PONG)
    collect([load_program(src)], root / "collection", RunConfig(runs=2), show_progress=False)
    build_dataset(root / "collection", root / "dataset", BuildOptions(workers=1, all_depths=True))
    return DatasetView(root / "dataset")


def test_a_cut_prefix_gives_the_same_prompts(long_runs: DatasetView) -> None:
    """prompt_example(max_events=B) carries only the newest B events (a B-token prompt
    cannot show more) and computes the states vectorised: the states equal the replay of
    the whole prefix, and the truncated prompts are the same as from the whole prefix."""
    view = long_runs
    rows = view.examples.filter(pl.col("label") >= 0).sort("k", descending=True).head(20)
    assert rows["k"].min() > 80
    budget = 80
    cut_and_truncated = 0
    for row in rows.iter_rows(named=True):
        args = (row["run_key"], row["k"], row["label"], row["label_g"])
        whole = view.prompt_example(*args)
        cut = view.prompt_example(*args, max_events=budget)
        assert whole.omitted == 0 and len(whole.events) == row["k"]
        assert cut.omitted == max(0, row["k"] - budget) and list(cut.events) == list(whole.events)[cut.omitted :]
        assert whole.states == cut.states == goroutine_states(whole.events)
        for fmt in FORMATS:
            try:
                expected = truncate(whole, budget, count_tokens, fmt)
            except PromptTooLong:
                with pytest.raises(PromptTooLong):
                    truncate(cut, budget, count_tokens, fmt)
                continue
            assert truncate(cut, budget, count_tokens, fmt) == expected
            cut_and_truncated += cut.omitted > 0
    assert cut_and_truncated > 0
