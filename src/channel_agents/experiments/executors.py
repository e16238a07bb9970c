"""Where runs execute: in this process, in local worker processes, or on Dask.

One small interface, :class:`Executor`:

- ``submit(fn, arg) -> future`` schedules one call;
- ``as_completed(futures)`` yields the futures as they finish;
- ``map(fn, items)`` yields the results as they finish, keeping only a window of
  calls in flight (so a large experiment does not queue everything at once and
  an interrupted one loses little);
- ``close()`` (or ``with``) shuts the workers down.

A future's ``result()`` raises only when the executor itself failed (a worker
process died); a run that raises is the runner's business (it is recorded).

- ``serial``: runs in the calling process, one at a time (debugging, profiling).
- ``processes`` (the default): ``concurrent.futures.ProcessPoolExecutor`` with
  ``workers`` processes (``forkserver`` start where the platform has it, so
  workers start with the package already imported). A worker whose parent dies
  (the experiment killed) exits by itself.
- ``dask``: ``dask.distributed``, optional (``pip install channel-agents[dask]``).
  With ``scheduler`` (``tcp://host:port``) it connects to a running cluster
  (dask-jobqueue on SLURM, see docs/experiments.md); otherwise it starts a
  ``LocalCluster(processes=True, n_workers=workers, threads_per_worker=1)``.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from typing import Any

from channel_agents.config import ConfigError

EXECUTORS = ("serial", "processes", "dask")
DASK_MISSING = (
    "the dask executor needs the optional dask extra: pip install channel-agents[dask] "
    "(or pip install 'dask[distributed]')"
)


def default_workers() -> int:
    """The CPUs this process may use."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


class Executor:
    """Submit run tasks, collect them as they complete."""

    name = "executor"

    def __init__(self, workers: int = 1):
        self.workers = max(1, int(workers))

    # -- the interface
    def submit(self, fn: Callable[[Any], Any], arg: Any) -> Any:
        raise NotImplementedError

    def as_completed(self, futures: Iterable[Any]) -> Iterator[Any]:
        raise NotImplementedError

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
        """Results of ``fn(item)`` in completion order, a sliding window in flight."""
        window = self.window()
        items = iter(items)
        pending: set[Any] = set()
        for item in items:
            pending.add(self.submit(fn, item))
            if len(pending) >= window:
                break
        while pending:
            done, pending = self._wait_first(pending)
            for fut in done:
                for item in items:  # top the window up as soon as a slot frees
                    pending.add(self.submit(fn, item))
                    break
                yield fut.result()

    def close(self) -> None:
        pass

    def describe(self) -> str:
        return f"{self.name} ({self.workers} worker{'s' if self.workers != 1 else ''})"

    # -- helpers
    def window(self) -> int:
        return max(2, 4 * self.workers)

    def _wait_first(self, pending: set[Any]) -> tuple[set[Any], set[Any]]:
        done, rest = wait(pending, return_when=FIRST_COMPLETED)
        return set(done), set(rest)

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SerialExecutor(Executor):
    """Runs each task in this process when its result is asked for."""

    name = "serial"

    def __init__(self, workers: int = 1):
        super().__init__(1)

    def submit(self, fn: Callable[[Any], Any], arg: Any) -> Future:
        fut: Future = Future()
        fut.set_running_or_notify_cancel()
        try:
            fut.set_result(fn(arg))
        except BaseException as exc:  # KeyboardInterrupt must reach the runner
            if not isinstance(exc, Exception):
                raise
            fut.set_exception(exc)
        return fut

    def as_completed(self, futures: Iterable[Any]) -> Iterator[Any]:
        yield from futures

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
        for item in items:
            yield fn(item)

    def describe(self) -> str:
        return "serial (this process)"


# --------------------------------------------------------------------------- processes

_PARENT_POLL_S = 0.5


def _init_worker(main_pid: int) -> None:
    """Worker initializer: exit when the experiment process is gone, so a killed
    experiment leaves no workers behind (the workers' parent is the fork server,
    which itself waits for them)."""
    pidfd = None
    if hasattr(os, "pidfd_open"):
        try:
            pidfd = os.pidfd_open(main_pid)
        except OSError:
            pidfd = None

    def watch() -> None:
        import select
        import time

        while True:
            if pidfd is not None:
                ready, _, _ = select.select([pidfd], [], [], None)  # readable at its exit
                if ready:
                    os._exit(1)
            else:
                time.sleep(_PARENT_POLL_S)
                try:
                    os.kill(main_pid, 0)
                except ProcessLookupError:
                    os._exit(1)
                except OSError:
                    pass

    threading.Thread(target=watch, name="experiment-watch", daemon=True).start()


class ProcessExecutor(Executor):
    """``concurrent.futures.ProcessPoolExecutor`` with ``workers`` processes."""

    name = "processes"

    def __init__(self, workers: int | None = None):
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        super().__init__(workers or default_workers())
        methods = mp.get_all_start_methods()
        if "forkserver" in methods:
            ctx = mp.get_context("forkserver")
            ctx.set_forkserver_preload(["channel_agents.experiments.runner"])
        else:
            ctx = mp.get_context("spawn")
        self._ctx = ctx
        self._pool = ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=ctx,
            initializer=_init_worker,
            initargs=(os.getpid(),),
        )

    def submit(self, fn: Callable[[Any], Any], arg: Any) -> Future:
        return self._pool.submit(fn, arg)

    def as_completed(self, futures: Iterable[Any]) -> Iterator[Any]:
        from concurrent.futures import as_completed

        yield from as_completed(list(futures))

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


# --------------------------------------------------------------------------- dask


class DaskExecutor(Executor):
    """``dask.distributed``: a running scheduler, or a LocalCluster of processes."""

    name = "dask"

    def __init__(self, workers: int | None = None, scheduler: str | None = None):
        try:
            import distributed
        except ImportError:
            raise ConfigError(DASK_MISSING, path="--executor dask") from None
        import logging

        super().__init__(workers or default_workers())
        self._distributed = distributed
        self.scheduler = scheduler
        self._cluster = None
        if scheduler:
            try:
                self._client = distributed.Client(scheduler, timeout="10s")
            except (OSError, TimeoutError) as exc:
                raise ConfigError(
                    f"cannot reach the Dask scheduler at {scheduler}: {exc}", path="--scheduler"
                ) from None
            self.workers = max(1, sum(self._client.nthreads().values()))
        else:
            self._cluster = distributed.LocalCluster(
                processes=True,
                n_workers=self.workers,
                threads_per_worker=1,
                dashboard_address=None,
                silence_logs=logging.ERROR,
            )
            self._client = distributed.Client(self._cluster)

    def submit(self, fn: Callable[[Any], Any], arg: Any) -> Any:
        return self._client.submit(fn, arg, pure=False)

    def as_completed(self, futures: Iterable[Any]) -> Iterator[Any]:
        yield from self._distributed.as_completed(list(futures))

    def window(self) -> int:
        if self.scheduler:  # a cluster may grow: ask how many threads it has now
            with contextlib.suppress(Exception):  # keep the last count
                self.workers = max(1, sum(self._client.nthreads().values()))
        return max(2, 4 * self.workers)

    def _wait_first(self, pending: set[Any]) -> tuple[set[Any], set[Any]]:
        done, rest = self._distributed.wait(list(pending), return_when="FIRST_COMPLETED")
        return set(done), set(rest)

    def close(self) -> None:
        try:
            self._client.close()
        finally:
            if self._cluster is not None:
                self._cluster.close()

    def describe(self) -> str:
        where = self.scheduler or "LocalCluster"
        return f"dask ({where}, {self.workers} worker thread{'s' if self.workers != 1 else ''})"


def make_executor(name: str, workers: int | None = None, scheduler: str | None = None) -> Executor:
    """An executor by name (``serial``, ``processes``, ``dask``)."""
    if scheduler and name != "dask":
        raise ConfigError("needs --executor dask", path="--scheduler")
    if name == "serial":
        return SerialExecutor()
    if name == "processes":
        return ProcessExecutor(workers)
    if name == "dask":
        return DaskExecutor(workers, scheduler)
    raise ConfigError(f"unknown executor {name!r}; choose from {', '.join(EXECUTORS)}",
                      path="--executor")  # fmt: skip
