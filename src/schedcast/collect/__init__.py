"""Capture: build programs with the tracing harness, run them sandboxed, store runs."""

from schedcast.collect.build import Build, BuildError, build
from schedcast.collect.collector import CollectSummary, collect
from schedcast.collect.executor import DaskExecutor, Executor, ExecutorError, LocalExecutor, make_executor
from schedcast.collect.outcome import OUTCOMES, Classification, classify
from schedcast.collect.runner import RunConfig
from schedcast.collect.sandbox import Isolation, Limits, probe_isolation
from schedcast.collect.store import RunStore, StoreError

__all__ = [
    "OUTCOMES",
    "Build",
    "BuildError",
    "Classification",
    "CollectSummary",
    "DaskExecutor",
    "Executor",
    "ExecutorError",
    "Isolation",
    "Limits",
    "LocalExecutor",
    "RunConfig",
    "RunStore",
    "StoreError",
    "build",
    "classify",
    "collect",
    "make_executor",
    "probe_isolation",
]
