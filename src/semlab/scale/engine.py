"""The Ray engine: per-item work on an actor pool (or tasks), results streamed to the driver.

:func:`run_batches` is what every stage's ``engine="ray"`` runs.  The stage gives

* ``items``: small JSON-able dicts, one per image or file (a hash or a path, the name shown in
  reports; never the image's bytes: workers read the image themselves, from the shared
  workspace store or file system);
* ``setup(*setup_args)``: called once per worker (loads the model, opens the workspace);
* ``work(state, items)``: a list of results for a batch of items, in their order;
* ``on_result(item, result)``: called in the driver for each finished item, in the order they
  finish; it alone writes the cache, catalog and output tables.

The items go through a Ray Data pipeline (``from_items`` → ``map_batches`` on an
:class:`~ray.data.ActorPoolStrategy` pool, or on tasks when there is no setup) and stream back
with ``iter_batches``.  Ray restarts a killed worker and re-runs its batches (Ray Data's
actor defaults: ``max_restarts=-1``, ``max_task_retries=-1``); should the pipeline still fail,
the items without a result are run again once in a fresh pipeline.  An item whose ``work``
raises fails alone: the batch is re-run item by item and the failure is reported with the
item's name (:class:`ItemsFailed`).
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import math
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from semlab.errors import ParameterError, SemlabError

__all__ = [
    "ENGINES",
    "Engine",
    "ItemsFailed",
    "ScaleReport",
    "check_engine",
    "current_engine",
    "ray_session",
    "run_batches",
    "use_engine",
]

#: The engines a stage runs on: this process, or a Ray cluster.
ENGINES = ("local", "ray")
#: Object store of a Ray instance started here (bytes): small, results stream out at once.
_LOCAL_OBJECT_STORE = 200 * 2**20
#: Pipelines run at most this often for one call (the first, then the items still missing).
_PASSES = 2


@dataclass(frozen=True)
class Engine:
    """Where a stage's per-image work runs.

    Attributes
    ----------
    kind : {"local", "ray"}
        ``"local"``: this process, as always.  ``"ray"``: a Ray cluster.
    address : str, optional
        Ray cluster to join: ``"auto"`` (the one started on this machine with ``ray start
        --head``), ``"ray://host:10001"`` (Ray Client) or ``"host:6379"``.  Default: the
        ``RAY_ADDRESS`` environment variable, else (or with ``"local"``) a Ray instance
        started for the call (on this machine's CPUs) and shut down after it.
    num_workers : int, optional
        Workers (Ray actors) in the pool.  Default: one per GPU when the cluster has GPUs,
        else one per ``cpus_per_worker`` CPUs of the cluster.
    batch_size : int, optional
        Items (images) per batch sent to a worker.  Default: 4 per CPU of a worker (16 per
        GPU), fewer when there are few items so every worker gets some.
    cpus_per_worker : float, default 1
        CPUs each worker reserves (Ray sets its ``OMP_NUM_THREADS``).
    gpus_per_worker : float, optional
        GPUs each worker reserves.  Default: 1 on a cluster with GPUs when the stage runs its
        model on CUDA (the device resolved where the command runs), else 0.
    """

    kind: str = "local"
    address: str | None = None
    num_workers: int | None = None
    batch_size: int | None = None
    cpus_per_worker: float = 1.0
    gpus_per_worker: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The fields, JSON-ready."""
        return {
            "kind": self.kind,
            "address": self.address,
            "num_workers": self.num_workers,
            "batch_size": self.batch_size,
            "cpus_per_worker": self.cpus_per_worker,
            "gpus_per_worker": self.gpus_per_worker,
        }


def check_engine(engine: str | Engine = "local", address: str | None = None) -> Engine:
    """The :class:`Engine` meant by ``engine`` (a name or an Engine) and ``address``.

    Raises
    ------
    ParameterError
        An unknown engine, an address with the local engine, a malformed address.
    """
    eng = engine if isinstance(engine, Engine) else Engine(kind=str(engine).strip().lower())
    if eng.kind not in ENGINES:
        raise ParameterError(f"engine={eng.kind!r} is not one of {', '.join(ENGINES)}; give local or ray")
    if address is not None:
        eng = replace(eng, address=str(address).strip() or None)
    if eng.kind == "local" and eng.address is not None:
        raise ParameterError(
            f"address={eng.address!r} is only for engine='ray'; add --engine ray or leave the address out"
        )
    a = eng.address
    if a is not None and a not in ("auto", "local") and not a.startswith("ray://") and ":" not in a:
        raise ParameterError(
            f"address={a!r} must be 'auto', 'ray://host:port' or 'host:port'; give the Ray cluster's address"
        )
    for name in ("num_workers", "batch_size"):
        value = getattr(eng, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ParameterError(f"{name}={value!r} must be a whole number >= 1")
    if eng.gpus_per_worker is not None and not eng.gpus_per_worker >= 0:
        raise ParameterError(f"gpus_per_worker={eng.gpus_per_worker!r} must be a number of GPUs >= 0")
    if not eng.cpus_per_worker > 0:
        raise ParameterError(f"cpus_per_worker={eng.cpus_per_worker!r} must be a positive number of CPUs")
    return eng


_CURRENT: contextvars.ContextVar[Engine | None] = contextvars.ContextVar("semlab_engine", default=None)


@contextlib.contextmanager
def use_engine(engine: str | Engine = "ray", address: str | None = None) -> Iterator[Engine]:
    """Run the stages called inside the block on ``engine`` unless they are given their own.

    For functions without an ``engine`` keyword of their own (:func:`semlab.segment.segment_files`
    has twelve parameters already) and for code that calls several stages::

        with use_engine("ray", address="auto"):
            segment_files(["images/"], "seg/")

    Yields
    ------
    Engine
    """
    eng = check_engine(engine, address)
    token = _CURRENT.set(eng)
    try:
        yield eng
    finally:
        _CURRENT.reset(token)


def current_engine(engine: str | Engine | None = None, address: str | None = None) -> Engine:
    """``engine`` and ``address`` checked (:func:`check_engine`), or with ``engine=None`` the
    engine of the enclosing :func:`use_engine` block (``"local"`` outside any)."""
    if engine is None:
        return check_engine(_CURRENT.get() or Engine(), address)
    return check_engine(engine, address)


class ItemsFailed(SemlabError):
    """Some items failed on the Ray engine; the others finished (and were written).

    Attributes
    ----------
    failed : tuple of (str, str)
        ``(name, one-line reason)`` of each failed item.
    done : int
        Items that finished.
    result : object
        What the stage returns for the finished items, when it has something (else ``None``).
    """

    def __init__(self, failed: Sequence[tuple[str, str]], done: int, result: Any = None) -> None:
        self.failed = tuple(failed)
        self.done = done
        self.result = result
        shown = "; ".join(f"{n} ({why})" for n, why in self.failed[:5])
        more = f"; and {len(self.failed) - 5} more" if len(self.failed) > 5 else ""
        super().__init__(
            f"{len(self.failed)} of {done + len(self.failed)} items failed: {shown}{more}; the other {done} "
            "finished and were written: fix or remove the failed ones and run again"
        )


@dataclass(frozen=True)
class ScaleReport:
    """What a :func:`run_batches` call did.

    Attributes
    ----------
    n_items, n_done : int
        Items given; items that finished.
    failed : tuple of (str, str)
        ``(name, reason)`` of the items that failed.
    num_workers, batch_size : int
        Pool size and items per batch used.
    passes : int
        Pipelines run (2 when items were missing after the first).
    wall_s : float
        Seconds from the call to the last result (Ray start-up included when started here).
    worker_pids : tuple of int
        Process ids of the workers that returned results.
    address : str or None
        The cluster joined (``None``: started for the call).
    """

    n_items: int
    n_done: int
    failed: tuple[tuple[str, str], ...]
    num_workers: int
    batch_size: int
    passes: int
    wall_s: float
    worker_pids: tuple[int, ...] = field(default_factory=tuple)
    address: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The fields, JSON-ready."""
        return {
            "n_items": self.n_items,
            "n_done": self.n_done,
            "failed": [list(f) for f in self.failed],
            "num_workers": self.num_workers,
            "batch_size": self.batch_size,
            "passes": self.passes,
            "wall_s": self.wall_s,
            "worker_pids": list(self.worker_pids),
            "address": self.address,
        }


def _import_ray() -> Any:
    os.environ.setdefault("RAY_DISABLE_USAGE_STATS", "1")
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise ParameterError(
            "engine='ray' needs Ray Data; install it with `pip install 'semlab[scale]'` (ray[data])"
        ) from None
    return ray


@contextlib.contextmanager
def ray_session(address: str | None = None, *, num_cpus: int | None = None) -> Iterator[Any]:
    """Ray, connected: to the running instance, the cluster at ``address``, or a new local one.

    A Ray instance already initialised in this process is used as it is (and left running).
    Otherwise ``address`` (or the ``RAY_ADDRESS`` environment variable) is joined, or — with
    neither — a local instance is started (no dashboard, a 200 MB object store, ``num_cpus``
    CPUs, default all), and shut down when the block ends.

    Yields
    ------
    module
        The ``ray`` module.
    """
    ray = _import_ray()
    if ray.is_initialized():
        yield ray
        return
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": "warning"}
    if address in (None, "local") and not os.environ.get("RAY_ADDRESS"):
        kwargs.update(num_cpus=num_cpus, object_store_memory=_LOCAL_OBJECT_STORE)
        ray.init(**kwargs)
    else:
        ray.init(address=None if address == "local" else address, **kwargs)
    try:
        yield ray
    finally:
        ray.shutdown()


def _quiet_data(ray: Any) -> None:
    import logging

    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    with contextlib.suppress(AttributeError):
        ctx.print_on_execution_start = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)


def _plan(ray: Any, eng: Engine, n_items: int, actors: bool) -> tuple[int, int, float]:
    """(workers, items per batch, GPUs per worker) for this cluster and this many items."""
    res = ray.cluster_resources()
    gpus = float(res.get("GPU", 0.0))
    cpus = float(res.get("CPU", 1.0))
    if eng.gpus_per_worker is not None:
        per_gpu = float(eng.gpus_per_worker)
    else:
        per_gpu = 1.0 if gpus >= 1 and actors else 0.0
    if eng.num_workers is not None:
        workers = eng.num_workers
    elif per_gpu:
        workers = max(1, int(gpus // per_gpu))
    else:
        workers = max(1, int(cpus // eng.cpus_per_worker))
    workers = max(1, min(workers, n_items))
    if eng.batch_size is not None:
        batch = eng.batch_size
    else:
        cap = 16 if per_gpu else max(1, int(4 * eng.cpus_per_worker))
        batch = max(1, min(cap, math.ceil(n_items / (2 * workers))))
    return workers, batch, per_gpu


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def _apply(work: Callable[[Any, list[dict]], Sequence[Any]], state: Any, batch: Mapping[str, Any]) -> dict:
    """Run ``work`` on a batch; a failing batch is re-run item by item so a bad item fails alone."""
    items = [json.loads(s) for s in batch["item"]]
    n = len(items)
    results: list[Any] = [None] * n
    errors = [""] * n
    try:
        out = list(work(state, items))
        if len(out) != n:
            raise RuntimeError(f"work returned {len(out)} results for {n} items")
        results = out
    except Exception:
        for j, item in enumerate(items):
            try:
                results[j] = list(work(state, [item]))[0]
            except Exception as exc:
                errors[j] = _one_line(exc)
    packed = np.empty(n, dtype=object)
    for j, r in enumerate(results):
        packed[j] = r
    return {
        "i": np.asarray(batch["i"], dtype=np.int64),
        "error": np.array(errors, dtype=object),
        "result": packed,
        "pid": np.full(n, os.getpid(), dtype=np.int64),
    }


class _Actor:
    """A pool worker: ``setup`` once, then ``work`` on each batch."""

    def __init__(self, setup: Callable[..., Any], work: Callable[[Any, list[dict]], Sequence[Any]],
                 setup_args: tuple) -> None:  # fmt: skip
        self.state = setup(*setup_args)
        self.work = work

    def __call__(self, batch: Mapping[str, Any]) -> dict:
        return _apply(self.work, self.state, batch)


def _task(batch: Mapping[str, Any], work: Callable[[Any, list[dict]], Sequence[Any]]) -> dict:
    return _apply(work, None, batch)


@dataclass
class _Run:
    """The driver's book-keeping of one :func:`run_batches` call."""

    items: Sequence[Mapping[str, Any]]
    pending: dict[int, Mapping[str, Any]]
    on_result: Callable[[Mapping[str, Any], Any], None]
    progress: Callable[[int, int], None] | None
    failed: dict[int, tuple[str, str]] = field(default_factory=dict)
    pids: set[int] = field(default_factory=set)
    done: int = 0

    def take(self, batch: Mapping[str, Any]) -> None:
        for i, err, res, pid in zip(batch["i"], batch["error"], batch["result"], batch["pid"], strict=True):
            item = self.pending.pop(int(i), None)
            if item is None:
                continue  # already taken (a batch re-run after a worker died)
            self.pids.add(int(pid))
            if err:
                self.failed[int(i)] = (str(item.get("name", i)), str(err))
            else:
                self.on_result(item, res)
                self.done += 1
            if self.progress is not None:
                self.progress(self.done + len(self.failed), len(self.items))


def _pipeline(ray: Any, run: _Run, work: Any, setup: Any, setup_args: tuple, plan: tuple, eng: Engine) -> Any:
    workers, batch, gpus = plan
    rows = [{"i": k, "item": json.dumps(dict(run.pending[k]))} for k in sorted(run.pending)]
    ds = ray.data.from_items(rows, override_num_blocks=max(1, math.ceil(len(rows) / batch)))
    common: dict[str, Any] = {"batch_size": batch, "num_cpus": eng.cpus_per_worker, "batch_format": "numpy"}
    if gpus:
        common["num_gpus"] = gpus
    if setup is None:
        ds = ds.map_batches(_task, fn_kwargs={"work": work}, **common)  # Ray retries lost tasks (3 times)
    else:
        ds = ds.map_batches(
            _Actor, fn_constructor_args=(setup, work, setup_args),
            compute=ray.data.ActorPoolStrategy(size=workers), **common,
        )  # fmt: skip
    return ds.iter_batches(batch_size=None, batch_format="numpy", prefetch_batches=0)


def _drain(stream: Iterator[Any], run: _Run) -> str:
    """Take every batch of a pipeline; the reason it died early, or ``""``."""
    while True:
        try:
            batch = next(stream)
        except StopIteration:
            return ""
        except Exception as exc:  # the pipeline died (workers lost beyond their retries)
            return _one_line(exc)
        run.take(batch)


def run_batches(
    items: Sequence[Mapping[str, Any]],
    work: Callable[[Any, list[dict]], Sequence[Any]],
    *,
    on_result: Callable[[Mapping[str, Any], Any], None],
    setup: Callable[..., Any] | None = None,
    setup_args: tuple = (),
    engine: str | Engine = "ray",
    progress: Callable[[int, int], None] | None = None,
) -> ScaleReport:
    """Run ``work`` over ``items`` on Ray; ``on_result`` receives each result in this process.

    Parameters
    ----------
    items : sequence of dict
        JSON-able, small (hashes, paths, names; never pixels); ``"name"`` names an item in
        reports.
    work : callable(state, items) -> list
        Module-level function (workers import it by name): a result per item, in order.
        ``state`` is what ``setup`` returned (``None`` without setup).
    on_result : callable(item, result)
        Called in this process as results arrive; the only writer of outputs.
    setup : callable(*setup_args), optional
        Module-level function run once per worker (model loading); with it the work runs on
        an actor pool, without it on Ray tasks.
    setup_args : tuple
        Its arguments (sent once per worker).
    engine : "ray" or Engine
        Cluster address, pool size, batch size (:class:`Engine`).
    progress : callable(done, total), optional
        After each finished (or failed) item.

    Returns
    -------
    ScaleReport
        Counts, failures (``(name, reason)``), workers, batch size, passes, time.
    """
    eng = check_engine(engine)
    if eng.kind != "ray":
        raise ParameterError("run_batches runs on Ray; give engine='ray' (the stages run 'local' themselves)")
    t0 = time.perf_counter()
    run = _Run(items, dict(enumerate(items)), on_result, progress)
    passes, lost = 0, ""
    plan = (1, 1, 0.0)
    with ray_session(eng.address) as ray:
        _quiet_data(ray)
        while run.pending and passes < _PASSES:
            passes += 1
            plan = _plan(ray, eng, len(run.pending), setup is not None)
            stream = iter(_pipeline(ray, run, work, setup, setup_args, plan, eng))
            try:
                lost = _drain(stream, run) or lost
            finally:  # stopped early (an error in on_result or progress): end the pipeline too
                close = getattr(stream, "close", None)
                if close is not None:
                    close()
    for k, item in sorted(run.pending.items()):
        run.failed[k] = (str(item.get("name", k)), f"lost: no result after {passes} passes ({lost})")
    return ScaleReport(
        n_items=len(items), n_done=run.done, failed=tuple(run.failed[k] for k in sorted(run.failed)),
        num_workers=plan[0], batch_size=plan[1], passes=passes, wall_s=time.perf_counter() - t0,
        worker_pids=tuple(sorted(run.pids)), address=eng.address,
    )  # fmt: skip
