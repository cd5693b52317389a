"""One training engine for every torch model semlab trains (heads, fine-tuning, U-Net, GAN, DDPM).

A model-specific trainer keeps only its model, one *step* and, optionally, a validation;
:func:`fit` does the rest the same way for all of them:

- seeding (Python, NumPy, torch) and the device (:func:`resolve_device`, the project's one
  device resolver);
- the budget: ``max_steps`` steps, with an optional wall-clock cap ``time_budget_s`` (a budget
  in steps gives the same model on any machine; the cap only protects a deadline);
- validation every ``validate_every`` steps, the best weights by the monitored value (lower is
  better), early stopping after ``patience`` validations without an improvement of at least
  ``min_delta``, and restoring the best weights at the end;
- checkpoint/resume: model, optimisers, step, history, best value and the random states (torch,
  NumPy and the trainer's own generators) in one file that loads with
  ``torch.load(weights_only=True)``, so a resumed run continues exactly where it stopped;
- history (one dict per step) and progress through one protocol, ``progress(done, total)``.

What a "step" is belongs to the trainer: an epoch for the feature heads and fine-tuning, an
optimiser step for the U-Net, the GAN and the diffusion model.

Why not Lightning Fabric (measured here, 2 cores, in a throwaway venv): ``pip install lightning``
adds about 23 MB of packages (lightning 7.1 MB, torchmetrics 8.9 MB, pytorch_lightning 5.0 MB,
lightning_fabric 2.1 MB, lightning_utilities), and ``import lightning.fabric`` takes 1.2 s on
top of torch's own 1.2 s; this module imports torch only inside its functions.  Fabric's value
is its strategies (DDP, FSDP, precision plugins), which models of this size on CPU machines do
not use; the loop itself is about 100 lines.  ``torch.autocast`` gives the mixed precision
where it is native (bf16 on CUDA, :func:`autocast`).
"""

from __future__ import annotations

import copy
import math
import os
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from semlab.errors import FileFormatError, ParameterError

__all__ = [
    "FitResult",
    "Progress",
    "TrainConfig",
    "autocast",
    "device_of",
    "fit",
    "load_torch_file",
    "resolve_device",
    "seed_everything",
]


class Progress(Protocol):
    """semlab's one progress protocol: called with the units done and the total (or None)."""

    def __call__(self, done: int, total: int | None) -> None: ...


@dataclass(frozen=True)
class TrainConfig:
    """How long and how a model trains (the model's own options live in its config).

    Attributes
    ----------
    max_steps : int
        Steps to run (what a step is belongs to the trainer: an epoch or an optimiser step).
    time_budget_s : float or None
        Optional wall-clock cap in seconds; the run stops after the step that passes it.
    seed : int or None
        Seeds Python, NumPy and torch at the start (a resumed run restores the saved states);
        None when the trainer has seeded already (e.g. before building its model).
    device : str
        ``"auto"`` (CUDA when available, else the CPU), ``"cpu"`` or ``"cuda"``.
    amp : {"auto", "off"}
        ``"auto"`` runs each step and validation under bfloat16 autocast where that is native
        (CUDA with bf16 support; no loss scaling needed); on the CPU it changes nothing.
        ``"off"`` keeps float32 everywhere.
    validate_every : int
        Validate after every this many steps (and after the last).
    patience : int or None
        Stop after this many validations without improvement; None trains all steps.
    min_delta : float
        Smallest decrease of the monitored value that counts as an improvement.
    restore_best : bool
        Load the best validated weights at the end.
    checkpoint : str or None
        File to save a checkpoint to every ``checkpoint_every`` steps and at the end, and to
        resume from when it exists and ``resume`` is set.
    checkpoint_every : int
    resume : bool
    """

    max_steps: int = 100
    time_budget_s: float | None = None
    seed: int | None = 0
    device: str = "auto"
    amp: str = "auto"
    validate_every: int = 1
    patience: int | None = None
    min_delta: float = 0.0
    restore_best: bool = True
    checkpoint: str | None = None
    checkpoint_every: int = 0
    resume: bool = True

    def __post_init__(self) -> None:
        for name, minimum in (("max_steps", 1), ("validate_every", 1), ("checkpoint_every", 0), ("seed", 0)):
            value = getattr(self, name)
            if name == "seed" and value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
                raise ParameterError(f"{name}={value!r} must be an integer >= {minimum}")
        if self.amp not in ("auto", "off"):
            raise ParameterError(f"amp={self.amp!r} must be 'auto' (bf16 where native: CUDA) or 'off'")
        if self.patience is not None and (not isinstance(self.patience, int) or self.patience < 1):
            raise ParameterError(f"patience={self.patience!r} must be a positive integer or None")
        if self.time_budget_s is not None and not (
            isinstance(self.time_budget_s, int | float) and self.time_budget_s >= 0
        ):
            raise ParameterError(f"time_budget_s={self.time_budget_s!r} must be a number of seconds >= 0")

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


@dataclass(frozen=True, eq=False)
class FitResult:
    """What :func:`fit` did.

    Attributes
    ----------
    history : list of dict
        One row per step: ``step`` and the trainer's values (losses), plus the validation's.
    steps : int
        Steps run in total (a resumed run counts the earlier ones).
    best_step : int or None
        Step of the best validation (None without validation).
    best_value : float
        The best monitored value (inf without validation).
    stopped : str
        ``"max_steps"``, ``"time_budget"`` or ``"early_stopping"``.
    seconds : float
        Wall time of this call.
    resumed_from : int
        Step the run resumed from (0 for a fresh run).
    """

    history: list[dict[str, Any]]
    steps: int
    best_step: int | None
    best_value: float
    stopped: str
    seconds: float
    resumed_from: int = 0
    device: str = "cpu"
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "steps": self.steps,
            "best_step": self.best_step,
            "best_value": None if not math.isfinite(self.best_value) else self.best_value,
            "stopped": self.stopped,
            "seconds": round(self.seconds, 3),
            "resumed_from": self.resumed_from,
            "device": self.device,
        }


def device_of(model: Any) -> Any:
    """The ``torch.device`` of a module's first parameter (the CPU for a module without any)."""
    import torch

    params = getattr(model, "parameters", None)
    first = next(iter(params()), None) if callable(params) else None
    return first.device if first is not None else torch.device("cpu")


def resolve_device(device: Any = "auto") -> Any:
    """semlab's one device resolver: a ``torch.device`` from ``"auto"`` (CUDA when available,
    else the CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` (any case) or a ``torch.device``.

    Raises
    ------
    ParameterError
        Not a device, or CUDA asked for where there is none (one line, saying what to use).
    """
    import torch

    if isinstance(device, torch.device):
        return device
    text = "auto" if device is None else str(device).strip().lower()
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if text == "cpu" or text.startswith("cuda"):
        if text.startswith("cuda") and not torch.cuda.is_available():
            raise ParameterError(f"device={device!r}: CUDA is not available here; use device 'auto' or 'cpu'")
        try:
            return torch.device(text)
        except RuntimeError:
            pass
    raise ParameterError(f"device={device!r} is not a device; use 'auto', 'cpu', 'cuda' or 'cuda:N'")


def autocast(device: Any, amp: str = "auto") -> Any:
    """Mixed precision where it is native (bfloat16 autocast on CUDA); a no-op context elsewhere
    or with ``amp="off"``.  Returns a new context manager on each call."""
    import contextlib

    import torch

    dev = resolve_device(device)
    if amp == "auto" and dev.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's global and torch's generators (CPU and CUDA)."""
    import torch

    random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)
    torch.manual_seed(int(seed))


def load_torch_file(path: str | os.PathLike, *, what: str = "weights") -> Any:
    """``torch.load`` that never runs code from the file (``weights_only=True``).

    Raises
    ------
    FileFormatError
        The file needs pickle to load (it holds Python objects, which could run code) or is
        not a torch file; the message says how to save a loadable one.
    """
    import pickle

    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0][:100] if str(exc).strip() else ""
        raise FileFormatError(
            f"{path}: the {what} file holds pickled Python objects, which can run code, so it is not loaded "
            f"({first}); save a state_dict (torch.save(model.state_dict(), path)) or a .safetensors file"
        ) from None
    except Exception as exc:
        msg = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else type(exc).__name__
        raise FileFormatError(f"{path}: cannot be read as a PyTorch {what} file ({msg})") from None


def _rng_state(generators: Sequence[Any]) -> dict[str, Any]:
    import torch

    gens = []
    for g in generators:
        if isinstance(g, torch.Generator):
            gens.append({"torch": g.get_state()})
        else:  # numpy Generator: its bit generator's state is plain ints and strings
            gens.append({"numpy": g.bit_generator.state})
    legacy: tuple[Any, ...] = tuple(np.random.get_state(legacy=True))
    return {
        "python": list(random.getstate()[1]),
        "numpy": [np.asarray(legacy[1]).tolist(), *legacy[2:]],
        "torch": torch.get_rng_state(),
        "generators": gens,
    }


def _set_rng_state(state: Mapping[str, Any], generators: Sequence[Any]) -> None:
    import torch

    random.setstate((3, tuple(state["python"]), None))
    key, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state(("MT19937", np.asarray(key, dtype=np.uint32), int(pos), int(has_gauss), float(gauss)))
    torch.set_rng_state(state["torch"])
    for g, s in zip(generators, state["generators"], strict=True):
        if "torch" in s:
            g.set_state(s["torch"])
        else:
            g.bit_generator.state = s["numpy"]


def _state_dicts(modules: Mapping[str, Any]) -> dict[str, Any]:
    return {k: m.state_dict() for k, m in modules.items()}


@dataclass
class _Run:
    """The loop's mutable state (what a checkpoint holds besides weights)."""

    step: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    best_value: float = math.inf
    best_step: int | None = None
    best_state: dict[str, Any] | None = None
    bad: int = 0


def _save(path: Path, run: _Run, modules: Mapping[str, Any], generators: Sequence[Any], extra: Any) -> None:
    import torch

    from semlab._util import atomic_path, to_jsonable

    state = {
        "format": "semlab-checkpoint",
        "step": run.step,
        "history": to_jsonable(run.history),
        "best_value": run.best_value if math.isfinite(run.best_value) else None,
        "best_step": run.best_step,
        "best_state": run.best_state,
        "bad": run.bad,
        "modules": _state_dicts(modules),
        "rng": _rng_state(generators),
        "extra": extra() if callable(extra) else None,
    }
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def _resume(
    path: Path, run: _Run, modules: Mapping[str, Any], generators: Sequence[Any], on_resume: Any
) -> Any:
    state = load_torch_file(path, what="checkpoint")
    if not isinstance(state, dict) or state.get("format") != "semlab-checkpoint":
        raise FileFormatError(f"{path}: not a semlab training checkpoint; delete it or give another folder")
    if on_resume is not None:
        on_resume(state.get("extra"))
    if set(state["modules"]) != set(modules):
        raise FileFormatError(f"{path}: belongs to another model ({', '.join(state['modules'])}); delete it")
    for k, m in modules.items():
        try:
            m.load_state_dict(state["modules"][k])
        except (RuntimeError, ValueError, KeyError) as exc:
            first = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else type(exc).__name__
            raise FileFormatError(
                f"{path}: its {k} does not fit this run ({first}); delete it or pass resume=False"
            ) from None
    run.step, run.history = int(state["step"]), list(state["history"])
    run.best_value = math.inf if state["best_value"] is None else float(state["best_value"])
    run.best_step, run.best_state, run.bad = state["best_step"], state["best_state"], int(state["bad"])
    _set_rng_state(state["rng"], generators)
    return state.get("extra")


def _validate(
    run: _Run,
    row: dict[str, Any],
    validate: Callable[[], Mapping[str, float]],
    model: Any,
    cfg: TrainConfig,
    monitor: tuple[str, float],
) -> bool:
    """Validate, keep the best weights; True when early stopping says stop."""
    with autocast(cfg.device, cfg.amp):
        values = dict(validate())
    row.update(values)
    value = monitor[1] * float(values[monitor[0]])  # lower is better
    if value < run.best_value - cfg.min_delta:
        run.best_value, run.best_step, run.bad = value, run.step, 0
        run.best_state = copy.deepcopy(model.state_dict()) if model is not None else None
    else:
        run.bad += 1
    return cfg.patience is not None and run.bad >= cfg.patience


def fit(
    step: Callable[[int], Mapping[str, float]],
    *,
    config: TrainConfig,
    model: Any = None,
    validate: Callable[[], Mapping[str, float]] | None = None,
    monitor: str = "val_loss",
    mode: str = "min",
    state: Mapping[str, Any] | None = None,
    generators: Sequence[Any] = (),
    extra_state: Callable[[], Any] | None = None,
    on_resume: Callable[[Any], None] | None = None,
    progress: Progress | None = None,
    on_row: Callable[[dict[str, Any]], None] | None = None,
) -> FitResult:
    """Run a trainer's ``step`` under ``config``.

    Parameters
    ----------
    step : callable
        ``step(k) -> {"name": value, …}`` trains step ``k`` (1-based) and returns its values.
    config : TrainConfig
    model : torch.nn.Module, optional
        The module whose best validated weights are kept and restored.
    validate : callable, optional
        ``validate() -> {monitor: value, …}``; lower ``monitor`` is better.
    monitor : str, default "val_loss"
    mode : {"min", "max"}, default "min"
        Whether a lower or a higher ``monitor`` is better.
    state : mapping of name → object with ``state_dict``/``load_state_dict``, optional
        Everything a checkpoint holds (model, optimisers, EMA …); default ``{"model": model}``.
    generators : sequence of torch.Generator or numpy.random.Generator
        The trainer's own random generators, saved and restored with a checkpoint.
    extra_state : callable, optional
        Returns the trainer's own state (tensors, numbers, strings, lists, dicts) saved with
        each checkpoint.
    on_resume : callable, optional
        Called with that saved state before a checkpoint's weights are loaded: the trainer
        checks it belongs to this run (raising a one-line error if not) and restores it.
    progress : Progress, optional
        ``progress(step, max_steps)`` after each step.
    on_row : callable, optional
        Called with each history row that holds a validation (a log line for a person).

    Returns
    -------
    FitResult
    """
    if mode not in ("min", "max"):
        raise ParameterError(f"mode={mode!r} must be 'min' or 'max'")
    sign = 1.0 if mode == "min" else -1.0
    t0 = time.perf_counter()
    modules = dict(state) if state is not None else ({"model": model} if model is not None else {})
    run = _Run()
    ck = Path(config.checkpoint) if config.checkpoint else None
    extra = None
    if ck is not None and config.resume and ck.is_file():
        extra = _resume(ck, run, modules, generators, on_resume)
    elif config.seed is not None:
        seed_everything(config.seed)
    resumed_from = run.step
    dev = resolve_device(config.device)
    stopped = "max_steps"
    while run.step < config.max_steps:
        run.step += 1
        with autocast(dev, config.amp):
            values = step(run.step)
        row: dict[str, Any] = {
            "step": run.step,
            **{k: v if isinstance(v, int) else float(v) for k, v in values.items()},
        }
        last = run.step == config.max_steps
        over = config.time_budget_s is not None and time.perf_counter() - t0 >= config.time_budget_s
        stop = False
        if validate is not None and (run.step % config.validate_every == 0 or last or over):
            stop = _validate(run, row, validate, model, config, (monitor, sign))
            if on_row is not None:
                on_row(row)
        run.history.append(row)
        if ck is not None and config.checkpoint_every and run.step % config.checkpoint_every == 0:
            _save(ck, run, modules, generators, extra_state)
        if progress is not None:
            progress(run.step, config.max_steps)
        if stop:
            stopped = "early_stopping"
            break
        if over and not last:
            stopped = "time_budget"
            break
    if ck is not None:  # the last weights, so that a longer run resumes from here
        _save(ck, run, modules, generators, extra_state)
    if config.restore_best and model is not None and run.best_state is not None:
        model.load_state_dict(run.best_state)
    device = str(dev)
    return FitResult(
        run.history,
        run.step,
        run.best_step,
        sign * run.best_value,
        stopped,
        time.perf_counter() - t0,
        resumed_from,
        device,
        {"extra_state": extra},
    )
