"""Executors run independent tasks; the local pool is the default.

The interface is one method, so a distributed backend (dask.distributed) can take
its place without touching the collector.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Protocol, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Executor(Protocol):
    workers: int

    def imap_unordered(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        """Apply fn to every item; yield results as they finish. Exceptions propagate."""
        ...


class LocalExecutor:
    """A pool of threads; each task spends its time waiting on a child process."""

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
