"""The wire-format constants match the pinned toolchain's specification
(GOROOT/src/internal/trace/tracev2/events.go), so a toolchain upgrade that changes
the format fails here first."""

from __future__ import annotations

import re

from schedcast.toolchain import find_toolchain
from schedcast.trace import wire as W


def _events_go() -> str:
    return (find_toolchain().goroot / "src/internal/trace/tracev2/events.go").read_text()


def test_event_type_numbers_match_go() -> None:
    src = _events_go()
    block = src[src.index("EvNone EventType = iota") : src.index("NumEvents")]
    names = re.findall(r"^\s*(Ev\w+)", block, re.M)
    assert names[0] == "EvNone"
    for number, name in enumerate(names):
        assert getattr(W, name) == number, name
    assert W.NumEvents == len(names)
    exp = src[src.index("MaxEvent EventType = 127 + iota") : src.index("MaxExperimentalEvent\n")]
    for number, name in enumerate(re.findall(r"^\s*(Ev\w+)", exp, re.M), start=128):
        assert getattr(W, name) == number, name


def test_event_specs_match_go() -> None:
    src = _events_go()
    specs = src[src.index("var specs = [...]EventSpec{") :]
    specs = specs[: specs.index("\n}\n")]
    entries = re.findall(r"\n\t(Ev\w+): \{(.*?)\n\t\},", specs, re.S)
    assert len(entries) == len(W.SPECS)
    for name, body in entries:
        typ = getattr(W, name)
        spec_name, args, timed, stacks, strings = W.SPECS[typ]
        assert spec_name == re.search(r'Name:\s+"(\w+)"', body).group(1)
        go_args = re.search(r"Args:\s+\[\]string\{(.*?)\}", body)
        assert args == (tuple(re.findall(r'"(\w+)"', go_args.group(1))) if go_args else ()), name
        assert timed == ("IsTimedEvent: true" in body), name
        go_stacks = re.search(r"StackIDs:\s+\[\]int\{(.*?)\}", body)
        assert stacks == (tuple(int(x) for x in go_stacks.group(1).split(",")) if go_stacks else ()), name
        go_strings = re.search(r"StringIDs:\s+\[\]int\{(.*?)\}", body)
        assert strings == (tuple(int(x) for x in go_strings.group(1).split(",")) if go_strings else ()), name


def test_limits_and_version_match_go() -> None:
    src = _events_go()
    assert "MaxBatchSize = 64 << 10" in src and W.MAX_BATCH_SIZE == 64 << 10
    assert "MaxFramesPerStack = 128" in src and W.MAX_FRAMES_PER_STACK == 128
    assert "MaxEventTrailerDataSize = 1 << 10" in src and W.MAX_EVENT_TRAILER_DATA_SIZE == 1 << 10
    version_go = (find_toolchain().goroot / "src/internal/trace/version/version.go").read_text()
    assert f"Current         = Go1{W.CURRENT_VERSION}" in version_go
