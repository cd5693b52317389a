"""The segmentation benchmark's recorded ``semlab`` commands stay valid for the current CLI.

``benchmarks/results/segment.json`` records, per dataset, the ``semlab train-segmenter`` /
``segment`` / ``score-segmentation`` lines that reproduce its U-Net (issue 21, item 6).  These
tests rerun those lines on a tiny synthetic split with ``--max-steps 2`` and check that the
benchmark's code still writes the same lines, so the recipe cannot drift from the CLI.
"""

from __future__ import annotations

import importlib.util
import json
import shlex
from pathlib import Path

import numpy as np
import pytest

from semlab.cli import main

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "benchmarks" / "bench_segment.py"
RESULTS = ROOT / "benchmarks" / "results" / "segment.json"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_segment", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _recorded() -> dict[str, dict]:
    """U-Net rows of the stored results that record their CLI lines: ``isbi``, ``emps`` (the
    plain U-Nets) and ``emps/unet_<recipe>`` (the pretrained/strong-augmentation recipes)."""
    results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    rows = {}
    for ds, v in results.items():
        if not isinstance(v, dict):
            continue
        for key, row in v.items():
            if key.startswith("unet") and isinstance(row, dict) and "cli" in row:
                rows[ds if key == "unet" else f"{ds}/{key}"] = row
    return rows


def _names(slow_encoder_rows: bool = False) -> list:
    """Test ids; running the pretrained-encoder rows is slow on CPU (EfficientNet, 512-px images)."""
    mark = [pytest.mark.slow] if slow_encoder_rows else []
    return [pytest.param(n, marks=mark) if "/" in n else n for n in sorted(_recorded())] or [
        pytest.param("none", marks=pytest.mark.skip("no cli rows"))
    ]


def _split(folder: Path, classes: list[int], n_train: int = 8, n_test: int = 2, size: int = 128) -> None:
    """A synthetic split: dark discs (first class) on a bright background (last class)."""
    rng = np.random.default_rng(0)
    rr, cc = np.mgrid[:size, :size]
    ims, lbs = [], []
    for _ in range(n_train + n_test):
        disc = np.zeros((size, size), bool)
        for _ in range(4):
            r, c = rng.integers(0, size, 2)
            disc |= (rr - r) ** 2 + (cc - c) ** 2 <= int(rng.integers(6, 14)) ** 2
        ims.append(
            np.clip(np.where(disc, 60.0, 190.0) + rng.normal(0, 10, disc.shape), 0, 255).astype(np.uint8)
        )
        lbs.append(np.where(disc, classes[0], classes[-1]).astype(np.uint8))
    _bench().write_split(folder, ims[:n_train], lbs[:n_train], ims[n_train:], lbs[n_train:])


def _retarget(line: str, old: str, new: Path) -> list[str]:
    """A recorded command line with its folder replaced, cut to 2 training steps of 2 patches."""
    argv = [a.replace(old, str(new)) for a in shlex.split(line)]
    assert argv[0] == "semlab"
    if argv[1] == "train-segmenter":
        argv[argv.index("--max-steps") + 1] = argv[argv.index("--batch-size") + 1] = "2"
        argv += ["--val-patches", "2"]
    return argv[1:]


@pytest.mark.parametrize("name", _names(slow_encoder_rows=True))
def test_recorded_cli_runs_on_a_tiny_split(name: str, tmp_path: Path) -> None:
    row = _recorded()[name]
    train = shlex.split(row["cli"][0])
    classes = [int(c) for c in train[train.index("--classes") + 1].split(",")]
    size = int(train[train.index("--patch-size") + 1]) * int(train[train.index("--downsample") + 1])
    _split(tmp_path, classes, size=size)
    for line in row["cli"]:
        assert main(_retarget(line, row["cli_folder"], tmp_path)) == 0, line
    assert (tmp_path / "scores.csv").is_file()


@pytest.mark.parametrize("name", _names())
def test_recorded_cli_is_what_the_benchmark_writes_now(name: str) -> None:
    bench, row = _bench(), _recorded()[name]
    train = shlex.split(row["cli"][0])

    def opt(flag: str) -> str:
        return train[train.index(flag) + 1]

    classes = tuple(int(c) for c in opt("--classes").split(","))
    now = bench.cli_commands(
        Path(row["cli_folder"]), bench.RECIPES[row.get("recipe", name)], classes, opt("--class-names").split(","),
        steps=row["max_steps"], seed=int(opt("--seed")), time_budget=row["time_budget_s"],
    )  # fmt: skip
    assert [shlex.join(c) for c in now] == row["cli"]


def test_cli_commands_follow_the_recipe(tmp_path: Path) -> None:
    bench = _bench()
    train, segment, score = bench.cli_commands(
        tmp_path, bench.RECIPES["emps"], (0, 1), ("background", "particle"), steps=7, seed=3, time_budget=60.0
    )
    assert train[train.index("--max-steps") + 1] == "7"
    assert train[train.index("--downsample") + 1] == "4"
    assert "--invert" in train and train[train.index("--time-budget") + 1] == "60.0"
    assert "--no-crop" in segment and segment[segment.index("--method") + 1] == str(tmp_path / "model")
    assert score[score.index("--pred") + 1] == str(tmp_path / "pred")


def test_pretrained_recipe_lines_name_the_encoder_and_augmentation(tmp_path: Path) -> None:
    bench = _bench()
    train = bench.cli_commands(
        tmp_path, bench.RECIPES["emps_pretrained"], (0, 1), ("background", "particle"), steps=5, seed=0
    )[0]
    assert train[train.index("--encoder") + 1] == "efficientnet_lite0"
    assert train[train.index("--encoder-weights") + 1] == "pretrained"
    assert train[train.index("--augmentation") + 1] == "strong" and "--invert" in train
    # the plain recipes' lines stay as they were recorded (no encoder options)
    plain = bench.cli_commands(tmp_path, bench.RECIPES["emps"], (0, 1), ("b", "p"), steps=5, seed=0)[0]
    assert "--encoder" not in plain and "--augmentation" not in plain
