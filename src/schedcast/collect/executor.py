"""Executors run independent tasks; the local pool is the default.

The interface is one method (`imap_unordered`), so a distributed backend takes the
local pool's place without touching the stages that map work:

- `LocalExecutor`: a pool of threads in this process (each collection task spends
  its time waiting on a child process).
- `DaskExecutor`: tasks run on the workers of a dask.distributed cluster (a
  scheduler's address, or a LocalCluster of worker processes on this machine).
  A worker that dies mid-task costs nothing but time: the scheduler runs its
  tasks again on another worker, and the caller gets one result per item.

`make_executor(kind, scheduler, workers)` builds either from plain settings (the
CLI and the pipeline's config call it).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, Protocol, TypeVar

T = TypeVar("T")
R = TypeVar("R")

EXECUTOR_KINDS = ("local", "dask")
CONNECT_TIMEOUT_S = 10.0  # how long to try reaching a dask scheduler


class ExecutorError(RuntimeError):
    """The executor cannot start (e.g. the scheduler is unreachable); the message says why."""


class Executor(Protocol):
    workers: int
    # True when tasks run in other processes or machines: their results must carry
    # everything back (nothing they write locally reaches the caller).
    remote: bool

    def imap_unordered(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        """Apply fn to every item; yield results as they finish. Exceptions propagate."""
        ...


class LocalExecutor:
    """A pool of threads; each task spends its time waiting on a child process."""

    remote = False

    def __init__(self, workers: int | None = None) -> None:
        self.workers = max(1, workers or os.cpu_count() or 1)

    def imap_unordered(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        it = iter(items)
        pool = ThreadPoolExecutor(max_workers=self.workers)
        running: set[Future[R]] = set()
        try:
            # Keep a bounded number of tasks in flight, so a huge task list costs no memory.
            for item in it:
                running.add(pool.submit(fn, item))
                if len(running) >= 2 * self.workers:
                    break
            while running:
                done, running = wait(running, return_when=FIRST_COMPLETED)
                for fut in done:
                    yield fut.result()
                    nxt = next(it, None)
                    if nxt is not None:
                        running.add(pool.submit(fn, nxt))
        finally:
            # On an error or Ctrl-C, start nothing new; tasks already running finish
            # (each is bounded by its own timeout) so their results are not torn.
            pool.shutdown(wait=True, cancel_futures=True)

    def close(self) -> None:
        pass

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class DaskExecutor:
    """Tasks on a dask.distributed cluster.

    `scheduler` is a scheduler's address (``tcp://HOST:PORT``); without one, a
    LocalCluster of `workers` worker processes (one thread each) starts on this
    machine and stops with `close()`. Functions and items travel by pickle, so
    workers need only `pip install schedcast` (same version as the client).
    """

    remote = True

    def __init__(self, scheduler: str | None = None, workers: int | None = None) -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError as exc:  # pragma: no cover - a dependency of schedcast
            raise ExecutorError(f"the dask executor needs dask.distributed ({exc})") from exc
        self._cluster: Any = None
        try:
            if scheduler:
                self.client = Client(scheduler, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
            else:
                n = max(1, workers or os.cpu_count() or 1)
                self._cluster = LocalCluster(
                    n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=logging.ERROR
                )
                self.client = Client(self._cluster, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            self.close()
            where = scheduler or "a local cluster"
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ExecutorError(f"cannot reach the dask scheduler at {where} within {CONNECT_TIMEOUT_S:.0f} s ({first})") from exc
        self.scheduler = scheduler or self.client.scheduler.address

    @property
    def workers(self) -> int:
        """Threads on the cluster's workers now (at least 1)."""
        info = self.client.scheduler_info(n_workers=-1)
        return max(1, sum(int(w.get("nthreads", 1)) for w in info.get("workers", {}).values()))

    def worker_pids(self) -> dict[str, int]:
        """Each worker's address and process id (for tests and diagnostics)."""
        return dict(self.client.run(os.getpid))

    def imap_unordered(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        from distributed import as_completed

        it = iter(items)
        window = 2 * self.workers
        running = as_completed(loop=self.client.loop)
        submitted = []
        try:
            for item in it:
                submitted.append(self.client.submit(fn, item, pure=False))
                running.add(submitted[-1])
                if len(submitted) >= window:
                    break
            for fut in running:
                result = fut.result()  # a task's exception is raised here
                submitted.remove(fut)
                fut.release()
                nxt = next(it, None)
                if nxt is not None:
                    submitted.append(self.client.submit(fn, nxt, pure=False))
                    running.add(submitted[-1])
                yield result
        finally:
            # On an error or Ctrl-C: what did not finish is cancelled; nothing a
            # worker did is kept unless its result reached the caller.
            if submitted:
                self.client.cancel(submitted)

    def close(self) -> None:
        client = getattr(self, "client", None)
        if client is not None:
            client.close()
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

    def __enter__(self) -> DaskExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def make_executor(kind: str = "local", scheduler: str | None = None, workers: int | None = None) -> LocalExecutor | DaskExecutor:
    """An executor from plain settings: `kind` is "local" (threads in this process)
    or "dask" (the scheduler at `scheduler`, or a LocalCluster of `workers`
    processes when it is None). The caller closes it (it is a context manager)."""
    if kind == "local":
        if scheduler:
            raise ExecutorError("--scheduler needs --executor dask")
        return LocalExecutor(workers)
    if kind == "dask":
        return DaskExecutor(scheduler, workers)
    raise ExecutorError(f"unknown executor {kind!r}; choose from {', '.join(EXECUTOR_KINDS)}")


def imap_ordered(executor: Executor, fn: Callable[[T], R], items: Iterable[T], window: int | None = None) -> Iterator[R]:
    """Like map(fn, items) on `executor`: results in the order of `items`, at most
    `window` (default 4 x workers) held at once."""
    size = max(1, window or 4 * executor.workers)
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield from _ordered_batch(executor, fn, batch)
            batch = []
    if batch:
        yield from _ordered_batch(executor, fn, batch)


def _indexed(job: tuple[Callable[[Any], Any], int, Any]) -> tuple[int, Any]:
    fn, i, item = job
    return i, fn(item)


def _ordered_batch(executor: Executor, fn: Callable[[T], R], batch: list[T]) -> Iterator[R]:
    got: dict[int, R] = {}
    for i, result in executor.imap_unordered(_indexed, [(fn, i, item) for i, item in enumerate(batch)]):
        got[i] = result
    for i in range(len(batch)):
        yield got.pop(i)
