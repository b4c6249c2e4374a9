"""The LM path on real prompts from a real dataset: masking, the discriminating
position, the two objectives, scoring, save/load and resuming, on a tiny randomly
initialised model of SmolLM2's architecture with SmolLM2's real tokenizer; one test
loads the real SmolLM2-135M-Instruct weights."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from schedcast.dataset.access import DatasetView
from schedcast.dataset.prompts import KIND_NAMES, PromptEvent, PromptExample, PromptTooLong, truncate
from schedcast.models.base import load_predictor
from schedcast.models.lm import LMError, LMPredictor, TrainOptions, train_lm
from schedcast.models.lm.loading import load_model, load_tokenizer
from schedcast.models.lm.prompting import PromptEncoder, state_order
from schedcast.models.lm.training import IGNORE, TrainExample, batch_losses, response_labels, select_groups

SECOND_TOKENS = ("Block", "Create", "End", "Sched", "Start", "Un")


@pytest.fixture(scope="module")
def view(builtin_dataset: Path) -> DatasetView:
    return DatasetView(builtin_dataset)


@pytest.fixture(scope="module")
def tok(tiny_model_dir: Path):  # type: ignore[no-untyped-def]
    return load_tokenizer(tiny_model_dir)


def _prompts(view: DatasetView, split: str = "train"):  # type: ignore[no-untyped-def]
    examples, rows = view.model_examples(split)
    return examples, [examples.prompt(i) for i in range(len(examples))]


@pytest.mark.parametrize("fmt", ["paper", "compact"])
@pytest.mark.parametrize("chat", [True, False])
def test_discriminating_position_on_every_example(view: DatasetView, tok, fmt: str, chat: bool) -> None:  # type: ignore[no-untyped-def]
    enc = PromptEncoder(tok, fmt, max_length=768, chat=chat)
    n = 0
    for split in ("train", "test", "val"):
        examples, prompts = _prompts(view, split)
        for ex, label in zip(prompts, examples.labels.tolist()):
            e = enc.encode(ex)  # asserts the six-way split itself
            assert len(e.input_ids) <= 768
            assert tok.convert_ids_to_tokens(e.input_ids[e.position]) == "Go"
            assert e.input_ids[e.position + 1] == e.kind_ids[label]
            assert e.position >= e.n_prompt
            assert e.states_dropped == 0  # these lists fit: never cut
            n += 1
    assert n > 50
    assert tuple(tok.convert_ids_to_tokens(list(enc.kind_ids))) == SECOND_TOKENS


def test_tokenizer_that_cannot_split_the_kinds_is_refused() -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    from schedcast.dataset.prompts import PromptEvent, PromptExample

    words = Tokenizer(models.WordLevel({"[UNK]": 0, "<eos>": 1, "next": 2}, unk_token="[UNK]"))
    words.pre_tokenizer = pre_tokenizers.Whitespace()
    tok = PreTrainedTokenizerFast(tokenizer_object=words, eos_token="<eos>", pad_token="<eos>")
    ex = PromptExample("package main", [PromptEvent(1, 1)], {1: "runnable"}, 4, 1)
    with pytest.raises(LMError, match="tell the six kinds apart|told apart by one token|share no token"):
        PromptEncoder(tok, "compact", 64, chat=False).encode(ex)


def test_answer_mask_on_a_real_example(view: DatasetView, tok) -> None:  # type: ignore[no-untyped-def]
    _, prompts = _prompts(view)
    enc = PromptEncoder(tok, "paper", 512, chat=True)
    a, b = enc.encode(prompts[0]), enc.encode(prompts[5])
    ids, mask, positions, labels = response_labels([a, b], tok.pad_token_id)
    for row, e in enumerate((a, b)):
        width = ids.shape[1]
        pad = width - len(e.input_ids)
        assert mask[row, :pad].sum() == 0 and mask[row, pad:].all()
        assert positions[row, pad].item() == 0 and positions[row, -1].item() == len(e.input_ids) - 1
        kept = labels[row] != IGNORE
        # exactly the answer and its eos are learned; every prompt and padding token is masked
        assert kept.nonzero().flatten().tolist() == list(range(pad + e.n_prompt, width))
        answer = tok.decode(labels[row][kept].tolist())
        assert answer == e.prompt.target + "<|im_end|>"
        assert json.loads(e.prompt.target)["event_type"] in KIND_NAMES


def test_losses_match_an_independent_computation(view: DatasetView, tiny_model_dir: Path, tok) -> None:  # type: ignore[no-untyped-def]
    """CE equals transformers' own loss on each unpadded example (batching with left
    padding changes nothing), and KL is KL(p̂ || softmax of the six kind logits)."""
    model = load_model(tiny_model_dir)
    _, prompts = _prompts(view)
    enc = PromptEncoder(tok, "paper", 384, chat=False)
    encoded = [enc.encode(prompts[i]) for i in (0, 7)]
    p_hat = np.array([[0.5, 0, 0, 0, 0.5, 0], [0, 0, 0.25, 0, 0, 0.75]])
    batch = [TrainExample(e, 0, p) for e, p in zip(encoded, p_hat)]
    with torch.no_grad():
        ce, kl = batch_losses(model, batch, tok.pad_token_id)
        token_losses, kls = [], []
        for e, p in zip(encoded, p_hat):
            ids = torch.tensor([e.input_ids])
            labels = ids.clone()
            labels[0, : e.n_prompt] = IGNORE
            logits = model(input_ids=ids).logits[0]
            lp = torch.log_softmax(logits[:-1].double(), -1)
            targets = ids[0, 1:]
            per_token = -lp[torch.arange(targets.numel()), targets][e.n_prompt - 1 :]
            token_losses.append(per_token)
            hf = model(input_ids=ids, labels=labels).loss
            assert hf.item() == pytest.approx(per_token.mean().item(), rel=1e-4)
            log_q = torch.log_softmax(logits[e.position, list(e.kind_ids)].double(), -1).numpy()
            kls.append(sum(pi * (np.log(pi) - lq) for pi, lq in zip(p, log_q) if pi > 0))
    assert ce.item() == pytest.approx(torch.cat(token_losses).mean().item(), rel=1e-4)
    assert kl.item() == pytest.approx(float(np.mean(kls)), rel=1e-4)


def test_select_groups_keeps_whole_groups() -> None:
    groups = np.array([3, 3, 3, 7, 7, 9, 9, 9, 9, 11])
    keep = select_groups(groups, 5, seed=1)
    kept = groups[keep]
    assert keep.size <= 5
    for g in np.unique(kept):
        assert (kept == g).sum() == (groups == g).sum()
    assert select_groups(groups, None, 0).tolist() == list(range(10))


def test_select_groups_runs_per_group_spreads_over_groups() -> None:
    groups = np.repeat(np.arange(20), 10)  # 20 groups of 10 runs
    keep = select_groups(groups, 30, seed=2, per_group=2)
    kept = groups[keep]
    assert keep.size == 30
    assert np.unique(kept).size == 15  # 2 runs from each of 15 groups, not 3 whole groups
    assert all((kept == g).sum() == 2 for g in np.unique(kept))
    assert keep.tolist() == select_groups(groups, 30, seed=2, per_group=2).tolist()  # seeded
    every = select_groups(groups, None, seed=0, per_group=3)
    assert every.size == 60 and np.unique(groups[every]).size == 20


def _options(**kw) -> TrainOptions:  # type: ignore[no-untyped-def]
    base = dict(max_length=320, max_examples=8, batch_size=4, epochs=1, checkpoint_every=1, chat=False, seed=3, learning_rate=5e-3)
    base.update(kw)
    return TrainOptions(**base)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def trained(view: DatasetView, tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    out = tmp_path_factory.mktemp("lm-models")
    predictor, report = train_lm(view, out, _options(model=str(tiny_model_dir), objective="kl", epochs=2))
    return out, predictor, report


def test_kl_training_runs_and_learns(trained) -> None:  # type: ignore[no-untyped-def]
    out, predictor, report = trained
    assert 0 < report.examples <= 8 and report.too_long == 0  # whole groups, at most 8 examples
    assert report.steps == 2 * -(-report.examples // 4)
    assert report.trainable_parameters > 0
    assert report.losses[-1] < report.losses[0]  # lr 5e-3 on 8 examples: the loss goes down
    assert (out / "lm-kl.json").is_file() and (out / "lm-kl.adapter" / "adapter_config.json").is_file()
    assert not (out / "lm-kl.checkpoint").exists()


def test_save_load_and_batched_scoring(trained, view: DatasetView) -> None:  # type: ignore[no-untyped-def]
    out, predictor, _ = trained
    examples, _ = view.model_examples("train")
    examples = examples.subset(np.arange(0, 60, 10))
    q = predictor.predict_proba(examples)
    assert q.shape == (len(examples), 6)
    np.testing.assert_allclose(q.sum(axis=1), 1.0, atol=1e-9)
    loaded = load_predictor(out / "lm-kl.json")
    assert isinstance(loaded, LMPredictor) and loaded.name == "lm-kl"
    loaded.batch_size = 1  # one at a time, no padding: the same numbers
    np.testing.assert_allclose(loaded.predict_proba(examples), q, atol=1e-5)
    base = LMPredictor(model=predictor.model_spec, max_length=320, chat=False)
    assert not np.allclose(base.predict_proba(examples), q, atol=1e-4)  # the adapter changes the scores


def test_predict_moves_marginals_are_predict_proba(trained, view: DatasetView) -> None:  # type: ignore[no-untyped-def]
    _, predictor, _ = trained
    examples, _ = view.model_examples("train")
    examples = examples.subset(np.arange(4))
    q = predictor.predict_proba(examples)
    moves = predictor.predict_moves(examples)
    for i, (m, p) in enumerate(moves):
        assert m.shape[1] == 2 and p.shape == (m.shape[0],)
        marginal = np.bincount(m[:, 1], weights=p, minlength=6)
        np.testing.assert_allclose(marginal, q[i], atol=1e-9)
        states = examples.prompt(i).states
        for g, kind in m.tolist():
            if kind == KIND_NAMES.index("GoStart") and g:
                assert states[g] == "runnable"


def test_prompt_that_cannot_fit_gets_the_prior(trained, view: DatasetView) -> None:  # type: ignore[no-untyped-def]
    _, predictor, _ = trained
    small = LMPredictor(model=predictor.model_spec, max_length=40, chat=False, prior=[0.5, 0.1, 0.1, 0.1, 0.1, 0.1])
    examples, _ = view.model_examples("train")
    examples = examples.subset(np.arange(3))
    q = small.predict_proba(examples)
    assert small.report.too_long == 3 and small.report.scored == 0
    np.testing.assert_allclose(q, np.tile([0.5, 0.1, 0.1, 0.1, 0.1, 0.1], (3, 1)))
    with pytest.raises(PromptTooLong):
        PromptEncoder(small.ensure_loaded()[1], "paper", 40, chat=False).encode(examples.prompt(0))


def test_a_killed_run_resumes_to_the_same_adapter(builtin_dataset: Path, tiny_model_dir: Path, tmp_path: Path) -> None:
    """SIGKILL a training run after its second checkpoint; the same command resumes there
    and ends with the weights of an uninterrupted run."""
    from safetensors.torch import load_file

    args = [
        sys.executable, "-m", "schedcast", "train", "lm", str(builtin_dataset), "--model", str(tiny_model_dir),
        "--objective", "ce", "--max-length", "256", "--max-examples", "8", "--batch-size", "2", "--epochs", "2",
        "--checkpoint-every", "1", "--no-chat", "--seed", "5",
    ]
    full = subprocess.run([*args, "--out", str(tmp_path / "full")], capture_output=True, text=True, timeout=600)
    assert full.returncode == 0, full.stderr
    # stderr is not a terminal: one plain line per step (a log file sees the progress)
    steps = [line for line in full.stderr.splitlines() if line.startswith("lm-ce: step ")]
    assert steps and steps[0].startswith("lm-ce: step 1/") and "s/step, ETA" in steps[-1]
    killed_out = tmp_path / "killed"
    proc = subprocess.Popen([*args, "--out", str(killed_out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = killed_out / "lm-ce.checkpoint" / "state.pt"
    try:
        import time

        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if state.is_file():
                try:
                    if torch.load(state, weights_only=False)["step"] >= 2:
                        break
                except Exception:  # noqa: BLE001 - caught mid-write (rename is atomic, the read may not be)
                    pass
            time.sleep(0.05)
        else:
            pytest.fail("no checkpoint after 300 s")
    finally:
        proc.kill()
        proc.wait()
    assert not (killed_out / "lm-ce.json").exists()
    again = subprocess.run([*args, "--out", str(killed_out)], capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert "resumed at step" in again.stderr
    info = json.loads((killed_out / "lm-ce.json").read_text())["config"]["train_info"]["report"]
    assert info["resumed_from_step"] >= 2 and info["steps"] == 2 * -(-info["examples"] // 2)
    a = load_file(str(tmp_path / "full" / "lm-ce.adapter" / "adapter_model.safetensors"))
    b = load_file(str(killed_out / "lm-ce.adapter" / "adapter_model.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=1e-6, rtol=1e-5)


def _one_error_line(code: int, stderr: str, pattern: str) -> None:
    import re

    assert code == 1, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), stderr
    assert re.search(pattern, lines[0]), lines[0]


def _run(*args: str) -> tuple[int, str]:
    from typer.testing import CliRunner

    from schedcast.cli import app

    result = CliRunner().invoke(app, list(args))
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stderr


def test_bad_models_and_options_give_one_line(builtin_dataset: Path, tiny_model_dir: Path, tmp_path: Path) -> None:
    import shutil

    ds = str(builtin_dataset)
    out = str(tmp_path / "o")
    _one_error_line(*_run("train", "lm", ds, "--model", str(tmp_path / "nowhere"), "-o", out), "no such model directory")
    (tmp_path / "empty").mkdir()
    _one_error_line(*_run("train", "lm", ds, "--model", str(tmp_path / "empty"), "-o", out), "config.json is missing")
    corrupt = tmp_path / "corrupt"
    shutil.copytree(tiny_model_dir, corrupt)
    (corrupt / "model.safetensors").write_bytes(b"\x00garbage" * 100)
    _one_error_line(*_run("train", "lm", ds, "--model", str(corrupt), "--max-examples", "4", "-o", out), "cannot load the model")
    _one_error_line(*_run("train", "lm", ds, "--model", str(tiny_model_dir), "--max-length", "40", "--no-chat", "-o", out), "no training example fits")
    _one_error_line(*_run("train", "lm", ds, "--objective", "mse", "-o", out), "unknown objective")
    _one_error_line(*_run("train", "lm", ds, "--preset", "qwen2.5-coder-7b-qlora", "-o", out), "needs --model PATH")
    assert not list(Path(out).glob("*.checkpoint"))  # nothing half-written is left behind


def test_missing_ml_extra_gives_one_line(builtin_dataset: Path, tmp_path: Path) -> None:
    """The CLI in an interpreter where torch cannot be imported."""
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(
        "import sys\nfrom importlib.machinery import PathFinder\n"
        "class NoTorch(PathFinder):\n"
        "    @classmethod\n"
        "    def find_spec(cls, name, path=None, target=None):\n"
        "        if name == 'torch' or name.startswith('torch.'):\n"
        "            return None\n"
        "        return PathFinder.find_spec(name, path, target)\n"
        "sys.meta_path = [NoTorch if f is PathFinder else f for f in sys.meta_path]\n"
    )
    env = {**os.environ, "PYTHONPATH": str(blocker)}
    proc = subprocess.run(
        [sys.executable, "-m", "schedcast", "train", "lm", str(builtin_dataset), "-o", str(tmp_path / "o")],
        capture_output=True, text=True, timeout=300, env=env,
    )
    _one_error_line(proc.returncode, proc.stderr, r"needs the package torch.*schedcast\[ml\]")


def test_real_smollm2_scores_a_real_prompt(view: DatasetView) -> None:
    """The real SmolLM2-135M-Instruct (converted from the package's GGUF once, cached):
    the predictor's six probabilities are the model's own next-token probabilities at
    the discriminating position, renormalised."""
    from schedcast.models.lm.loading import ensure_smollm2

    model_dir = ensure_smollm2()
    base = LMPredictor(model="smollm2", max_length=768)
    examples, _ = view.model_examples("train")
    examples = examples.subset(np.arange(2))
    q = base.predict_proba(examples)
    assert base.report.scored == 2
    model, tok = base.ensure_loaded()
    assert sum(p.numel() for p in model.parameters()) > 130_000_000
    e = base.encoder().encode(examples.prompt(0))
    text = tok.decode(e.scoring_ids)
    assert text.endswith('"event_type": "Go') and "<|im_start|>assistant" in text
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([e.scoring_ids])).logits[0, -1].double()
    p = torch.softmax(logits, -1)[list(e.kind_ids)].numpy()
    np.testing.assert_allclose(q[0], p / p.sum(), atol=1e-5)
    assert p.sum() > 0.5  # the pretrained model puts most of its mass on a kind after "Go"
    assert model_dir.joinpath("model.safetensors").is_file()


def test_score_cache_reuses_finished_scores_and_only_for_the_same_model(trained, view: DatasetView, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import shutil

    from safetensors.torch import load_file, save_file

    out, _, _ = trained
    folder = tmp_path / "models"
    shutil.copytree(out, folder)
    (folder / "lm-kl.scores.sqlite").unlink(missing_ok=True)  # an earlier test scored with this file
    examples, _ = view.model_examples("train")
    examples = examples.subset(np.arange(0, 60, 10))
    first = load_predictor(folder / "lm-kl.json")
    q = first.predict_proba(examples)
    assert first.report.cached == 0 and first.report.scored == len(examples)
    assert (folder / "lm-kl.scores.sqlite").is_file()
    again = load_predictor(folder / "lm-kl.json")
    np.testing.assert_array_equal(again.predict_proba(examples), q)  # read back, not recomputed
    assert again.report.cached == again.report.scored == len(examples)
    # other adapter weights under the same file name: the cached rows are not used
    weights_file = folder / "lm-kl.adapter" / "adapter_model.safetensors"
    weights = load_file(str(weights_file))
    save_file({k: (v * 3 if "lora_B" in k else v) for k, v in weights.items()}, str(weights_file))
    changed = load_predictor(folder / "lm-kl.json")
    q2 = changed.predict_proba(examples)
    assert changed.report.cached == 0
    assert not np.allclose(q2, q, atol=1e-6)
    # a cache that cannot be opened is skipped, the scores are the same
    nowhere = load_predictor(folder / "lm-kl.json")
    nowhere.score_cache = tmp_path / "no-such-folder" / "x.sqlite"
    np.testing.assert_allclose(nowhere.predict_proba(examples), q2, atol=1e-9)
    assert nowhere.report.cached == 0


def test_stratified_subset_keeps_k_per_program_and_every_other_split(builtin_dataset: Path, tmp_path: Path) -> None:
    import polars as pl

    from schedcast.models.lm.subset import main, write_subset

    split = "train"  # the builtin dataset's programs are all in train; the rule is the same for test
    full = DatasetView(builtin_dataset)
    n, programs = write_subset(builtin_dataset, tmp_path / "a", split=split, per_program=2, seed=5)
    sub = DatasetView(tmp_path / "a")
    ex_full, rows_full = full.model_examples(split)
    ex_sub, rows_sub = sub.model_examples(split)
    per_program_full = {p: int((ex_full.programs == p).sum()) for p in set(ex_full.programs.tolist())}
    per_program_sub = {p: int((ex_sub.programs == p).sum()) for p in set(ex_sub.programs.tolist())}
    assert len(per_program_full) > 1 and max(per_program_full.values()) > 2
    assert set(per_program_sub) == set(per_program_full) and programs == len(per_program_full)
    assert all(per_program_sub[p] == min(2, per_program_full[p]) for p in per_program_full)
    assert 0 < len(ex_sub) == n < len(ex_full)
    kept = set(zip(rows_sub["run_key"].to_list(), rows_sub["k"].to_list()))
    assert kept <= set(zip(rows_full["run_key"].to_list(), rows_full["k"].to_list()))
    for program in per_program_full:  # spread over the depths first
        depths = rows_sub.filter(pl.Series(ex_sub.programs == program))["depth_pct"].to_list()
        assert len(set(depths)) == len(depths)
    others = pl.col("split") != split
    assert full.examples.filter(others).equals(sub.examples.filter(others))  # the other splits are whole
    write_subset(builtin_dataset, tmp_path / "b", split=split, per_program=2, seed=5)  # the same seed, the same examples
    assert pl.read_parquet(tmp_path / "a" / "examples.parquet").equals(pl.read_parquet(tmp_path / "b" / "examples.parquet"))
    assert main([str(tmp_path / "missing"), str(tmp_path / "c")]) == 1


def _stress_example(n_dead: int = 400) -> PromptExample:
    """A stress kernel's shape: a few live goroutines and hundreds that already ended."""
    events: list[PromptEvent] = []
    states = {1: "running", 2: "runnable"}
    for g in range(3, 13):
        states[g] = f"blocked (chan receive) at goker/kernel.go:{g}"
        events.append(PromptEvent(KIND_NAMES.index("GoBlock"), g, "chan receive", f"goker/kernel.go:{g}"))
    for g in range(13, 13 + n_dead):
        states[g] = "dead"
        events.insert(0, PromptEvent(KIND_NAMES.index("GoEnd"), g))
    source = "// file: kernel.go\npackage main\n\nfunc main() {\n\tfor i := 0; i < 400; i++ {\n\t\tgo func() {}()\n\t}\n}\n"
    return PromptExample(source, tuple(events), states, KIND_NAMES.index("GoUnblock"), 12)


def test_states_list_that_cannot_fit_keeps_the_live_goroutines(tok) -> None:  # type: ignore[no-untyped-def]
    ex = _stress_example()
    assert state_order(ex)[:4] == [1, 2, 12, 11]  # running, runnable, then blocked by most recent event
    assert state_order(ex)[-1] == 412  # the dead goroutine with the oldest event goes first (events are oldest first)
    enc = PromptEncoder(tok, "paper", max_length=1024, chat=True)
    with pytest.raises(PromptTooLong):  # the dataset's truncation alone cannot fit it
        truncate(ex, 1024, lambda text: len(tok(text)["input_ids"]), "paper")
    e = enc.encode(ex)  # asserts the discriminating position as for every example
    assert len(e.input_ids) <= 1024 and 0 < e.states_dropped < len(ex.states)
    text = e.prompt.prompt
    for g in range(1, 13):
        assert f"G{g}: " in text  # every live goroutine is kept
    assert "G412: dead" not in text
    assert e.input_ids[e.position + 1] == e.kind_ids[KIND_NAMES.index("GoUnblock")]
    small = _stress_example(n_dead=3)  # a list that fits is never cut
    assert enc.encode(small).states_dropped == 0
    with pytest.raises(PromptTooLong):  # not even the bare question fits
        PromptEncoder(tok, "paper", max_length=60, chat=True).encode(ex)
