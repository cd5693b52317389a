"""The checks :func:`~semlab.learn.train_workspace` runs beside the chosen model.

- **Feature sets** (``compare=``): the same head, the same grouped splits (same groups,
  labels and seed), scored on every feature set compared; a table in ``metrics.json``
  (``feature_sets``).
- **Shortcut check**: the same head on nuisance features only (the ``nuisance`` feature
  set of :mod:`semlab.features`: grey-value statistics, sharpness, image size, pixel
  size), with the verdict of
  :func:`semlab.learn.shortcut.shortcut_verdict` (``shortcut``).
- **Domain model**: :func:`semlab.learn.domain.fit_domain` on the training images' mean
  features (``domain``).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from semlab.errors import ParameterError

__all__ = ["NUISANCE", "feature_set_names", "load_feature_set", "run_checks"]

#: Name of the nuisance-only feature set.
NUISANCE = "nuisance"


def _features_module() -> Any:
    from semlab import features

    return features


def feature_set_names() -> tuple[str, ...]:
    """Feature sets this semlab offers (:data:`semlab.features.FEATURE_SETS`)."""
    return tuple(_features_module().FEATURE_SETS)


def default_feature_set() -> str:
    return str(_features_module().DEFAULT_FEATURE_SET)


def load_feature_set(
    ws: Any, name: str | None, *, backbone: str | None = None, progress: Any = None, chosen: bool = True
) -> tuple[Any, str]:
    """(FeatureTable, its name) of a workspace: ``name`` (default the default feature set).

    ``chosen``: the set of the model kept (``nuisance`` is refused: it is the shortcut
    check's baseline)."""
    F = _features_module()
    name = name or default_feature_set()
    known = feature_set_names()
    if name not in known:
        raise ParameterError(f"--feature-set {name!r} is unknown; choose one of {', '.join(known)}")
    if name == NUISANCE and chosen:
        raise ParameterError(
            "--feature-set nuisance is the shortcut check's baseline, not a model to keep; choose "
            + ", ".join(n for n in known if n != NUISANCE)
        )
    latest = F.load_features(ws, backbone=backbone)  # WorkspaceError: run `semlab embed` first
    if latest.config.get("feature_set", "final") == name:
        return latest, name
    # the other sets of the same patches (the latest embedding's recipe and backbone), cached per image
    return F.feature_table(ws, name, backbone=backbone, progress=progress), name


def _embedded_sets(ws: Any, backbone: str | None) -> list[str]:
    """Feature sets the workspace has an embedding of (no new embedding needed to compare them)."""
    from semlab.errors import WorkspaceError

    F = _features_module()
    out = []
    for name in F.FEATURE_SETS:
        try:
            F.load_features(ws, backbone=backbone, feature_set=name)
        except WorkspaceError:
            continue
        out.append(str(name))
    return out


def compare_list(
    ws: Any, chosen: str, compare: str | Sequence[str] | None, backbone: str | None
) -> list[str]:
    """The feature sets to compare (the chosen one first, nuisance always included unless ``none``).

    ``None``: the chosen set, nuisance and every set embedded before for the workspace;
    ``"all"``: every set;
    ``"none"``: the chosen set only (no shortcut check); a list or comma-separated names.
    """
    known = feature_set_names()
    if compare is None:
        names = [chosen, NUISANCE, *_embedded_sets(ws, backbone)]
    elif isinstance(compare, str) and compare.strip().lower() == "none":
        return [chosen]
    elif isinstance(compare, str) and compare.strip().lower() == "all":
        names = [chosen, *known]
    else:
        items = compare.split(",") if isinstance(compare, str) else list(compare)
        names = [chosen, NUISANCE, *(s.strip() for s in items if s.strip())]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ParameterError(
            f"--compare: unknown feature set(s) {', '.join(unknown)}; choose from {', '.join(known)}"
        )
    return list(dict.fromkeys(names))


def _set_rows(ws: Any, name: str, target: str, backbone: str | None) -> Any:
    """Target rows of another feature set of the workspace (computed where missing)."""
    from semlab.learn.run import _target_rows

    ft, _ = load_feature_set(ws, name, backbone=backbone, chosen=False)
    return _target_rows(ws, ft, target)


def _score(task: str, result: Any) -> dict[str, Any]:
    u = result.metrics["uncertainty"]
    return {
        "metric": u["metric"],
        "image_score": u["value"],
        "interval_95": u.get("wilson_95") or u.get("bootstrap_95"),
        "n_images": u["n_images"],
        "n_groups": u["n_groups"],
    }


def run_checks(
    ws: Any,
    rows: Any,
    result: Any,
    *,
    how: dict[str, Any],
    sets: list[str],
) -> dict[str, Any]:
    """The ``feature_sets``, ``shortcut`` blocks of a run's metrics (see the module docstring).

    ``how``: ``target``, ``task``, ``classes``, ``config`` (HeadConfig), ``split``,
    ``folds``, ``seed``, ``backbone``, ``feature_set`` (the chosen one).
    """
    from semlab.learn.run import _encode_target
    from semlab.learn.shortcut import shortcut_verdict
    from semlab.learn.train import train_head

    task, chosen = how["task"], how["feature_set"]
    cfg = dataclasses.replace(how["config"], permutations=0, bootstrap=min(how["config"].bootstrap, 200))
    table: dict[str, Any] = {
        chosen: {**_score(task, result), "n_features": int(rows.x.shape[1]), "chosen": True}
    }
    for name in sets:
        if name == chosen:
            continue
        t0 = time.perf_counter()
        other = _set_rows(ws, name, how["target"], how["backbone"])
        _, y = _encode_target(other.values, task, how["target"])
        res = train_head(
            other.x,
            y,
            other.groups,
            task=task,
            config=cfg,
            image_ids=other.hashes,
            classes=how["classes"],
            split=how["split"],
            folds=how["folds"],
            seed=how["seed"],
        )
        table[name] = {
            **_score(task, res),
            "n_features": int(other.x.shape[1]),
            "chosen": False,
            "seconds": round(time.perf_counter() - t0, 2),
        }
    out: dict[str, Any] = {"feature_sets": table}
    if NUISANCE in table and NUISANCE != chosen:
        img = table[chosen]
        nui = table[NUISANCE]
        if task == "classify":
            counts = np.unique(result.image_predictions["true"].astype(str), return_counts=True)[1]
            chance = float(counts.max() / counts.sum())  # majority-class image accuracy
        else:
            chance = 0.0
        out["shortcut"] = shortcut_verdict(
            img["image_score"],
            nui["image_score"],
            task=task,
            chance=chance,
            image_interval=img["interval_95"] if task == "classify" else None,
            nuisance_interval=nui["interval_95"],
        )
        out["shortcut"]["nuisance_features"] = str(_features_module().FEATURE_SET_HELP[NUISANCE])
    return out


def fit_run_domain(rows: Any) -> Any:
    """The domain model of a run: its training images' mean features, grouped by sample."""
    from semlab.learn.domain import fit_domain
    from semlab.learn.metrics import aggregate_by_image

    ids, means = aggregate_by_image(rows.x, rows.hashes)
    group_of = dict(zip(rows.hashes.astype(str), rows.groups, strict=True))
    return fit_domain(means, np.array([group_of[str(i)] for i in ids]))
