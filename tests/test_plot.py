"""The shared plotting layer and the figures drawn with it: keys and labelled axes exist
(matplotlib objects, not pixels).  Each figure is also written to tests/_artifacts/figures
(git-ignored) to be looked at."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("matplotlib")

from semlab._plot import (  # noqa: E402
    add_scale_bar,
    axis_label,
    image_grid,
    label_points,
    loss_curves,
    new_figure,
    save_figure,
    split_unit,
)

FIGURES = Path(os.environ.get("SEMLAB_FIGURES", Path(__file__).resolve().parent / "_artifacts" / "figures"))


def _keep(fig, name):
    FIGURES.mkdir(parents=True, exist_ok=True)
    return save_figure(fig, FIGURES / name)


@pytest.mark.parametrize(
    ("name", "quantity", "unit"),
    [
        ("area_um2", "area", "µm²"),
        ("specific_perimeter_per_um", "specific perimeter", "µm⁻¹"),
        ("gaussian_curvature_per_um2", "gaussian curvature", "µm⁻²"),
        ("equivalent_diameter_px", "equivalent diameter", "px"),
        ("anneal_temperature_c", "anneal temperature", "°C"),
        ("density_g_cm3", "density", "g/cm³"),
        ("conductivity_MS_per_m", "conductivity", "MS/m"),
        ("porosity", "porosity", None),
        ("_um", "um", None),  # a bare suffix is a name, not a unit
    ],
)
def test_split_unit(name, quantity, unit):
    assert split_unit(name) == (quantity, unit)
    assert axis_label(name) == (f"{quantity} ({unit})" if unit else quantity)


def test_scale_bar_length_is_a_round_number_of_micrometres():
    fig, ax = new_figure()
    ax.imshow(np.zeros((100, 400)))
    label = add_scale_bar(ax, 0.05, 400)  # 20 µm wide: a quarter is 5 µm
    assert label == "5 µm"
    (line,) = ax.lines
    x = line.get_xdata()
    assert abs(x[1] - x[0]) == pytest.approx(5 / 0.05)
    assert add_scale_bar(ax, None, 400) is None and len(ax.lines) == 1
    fig2, ax2 = new_figure()
    ax2.imshow(np.zeros((10, 100)))
    assert add_scale_bar(ax2, 0.001, 100) == "20 nm"


def test_image_grid_labels_rows_and_columns():
    rng = np.random.default_rng(0)
    fig = image_grid(
        [rng.random((32, 32)) for _ in range(6)],
        columns=3,
        row_labels=["burst 1", "burst 8"],
        col_labels=["a", "b", "c"],
        pixel_size=0.1,
        title="grid",
    )
    axes = fig.axes
    assert [axes[0].get_ylabel(), axes[3].get_ylabel()] == ["burst 1", "burst 8"]
    assert [ax.get_title() for ax in axes[:3]] == ["a", "b", "c"]
    assert any(t.get_text().endswith(("nm", "µm")) for t in axes[0].texts)  # scale bar label
    assert any(t.get_text().endswith(("nm", "µm")) for t in axes[3].texts)
    _keep(fig, "image_grid.png")


def test_point_labels_do_not_overlap():
    fig, ax = new_figure()
    x = np.array([0.0, 0.001, 0.002, 1.0])
    ax.scatter(x, x)
    written = label_points(ax, x, x, ["first label", "second label", "third label", "far"])
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in ax.texts]
    assert written == len(ax.texts) >= 2
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])


def test_loss_curves_draw_training_and_validation():
    fig, ax = new_figure()
    hist = [
        {"epoch": e, "train_loss": 1 / e, **({"val_loss": 0.5 + e / 50} if e % 5 == 0 else {})}
        for e in range(1, 21)
    ]
    n_train, n_val = loss_curves(ax, [hist, hist[:10]])
    assert (n_train, n_val) == (2, 2)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "fold 0 training" in labels and "fold 1 validation" in labels
    assert ax.get_xlabel() == "epoch" and ax.get_ylabel() == "loss"


def test_learn_loss_curve_png_shows_validation(monkeypatch):
    from semlab.learn import plots

    figs = []
    monkeypatch.setattr(plots, "_save", lambda fig, path: figs.append(fig) or path)
    hist = [
        {"epoch": e, "train_loss": 1 / e, **({"val_loss": 1.0} if e % 2 == 0 else {})} for e in range(1, 9)
    ]
    plots.plot_loss_curves([hist], "unused.png", title="mlp")
    plots.plot_loss_curves([[{"epoch": 1, "train_loss": 1.0}]], "unused.png")
    with_val, without = (f.axes[0] for f in figs)
    assert "fold 0 validation" in [t.get_text() for t in with_val.get_legend().get_texts()]
    assert any("no validation" in t.get_text() for t in without.texts)
    _keep(figs[0], "learn_loss_curves.png")


def test_quantify_plots_have_units_and_colour_bars():
    from semlab.quantify.plots import plot_persistence_image, plot_size_histogram

    rng = np.random.default_rng(0)
    table = pd.DataFrame({"equivalent_diameter_um": rng.lognormal(0, 0.4, 200), "touches_border": False})
    fig = plot_size_histogram(table)
    ax = fig.axes[0]
    assert ax.get_xlabel().startswith("equivalent diameter (µm)")
    _keep(fig, "size_histogram.png")
    fig = plot_persistence_image(
        rng.random((20, 20)), birth_range=(-2, 3), persistence_range=(0, 4), unit="µm"
    )
    ax, cax = fig.axes
    assert ax.get_xlabel() == "birth (µm)" and ax.get_ylabel() == "persistence (µm)"
    assert cax.get_ylabel() == "weighted density"  # the colour bar
    _keep(fig, "persistence_image.png")


def test_relate_shap_axes_carry_the_target_unit():
    from semlab.relate.explain import ShapValues
    from semlab.relate.plots import plot_parity, plot_shap_bar, plot_shap_beeswarm

    rng = np.random.default_rng(0)
    shap = ShapValues(
        values=rng.normal(size=(12, 2)),
        base_value=0.3,
        features=("specific_perimeter_per_um", "porosity"),
        data=rng.random((12, 2)),
        method="exact",
    )
    bar = plot_shap_bar(shap, target="density_g_cm3").axes[0]
    assert bar.get_xlabel() == "mean |SHAP value| (change in predicted density (g/cm³))"
    assert [t.get_text() for t in bar.get_yticklabels()][-1] in ("specific perimeter (µm⁻¹)", "porosity")
    fig = plot_shap_beeswarm(shap, target="density_g_cm3")
    assert fig.axes[0].get_xlabel() == "SHAP value (change in predicted density (g/cm³))"
    assert fig.axes[1].get_ylabel() == "feature value"  # colour bar
    _keep(fig, "shap_beeswarm.png")
    y = rng.random(12)
    result = SimpleNamespace(
        y=y, cv_predictions=y + rng.normal(0, 0.05, 12), cv="loo", cv_scores=SimpleNamespace(r2=0.9),
        test_y=None, target="conductivity_MS_per_m", model_kind="linear", features=["porosity"],
    )  # fmt: skip
    ax = plot_parity(result).axes[0]
    assert ax.get_xlabel() == "measured conductivity (MS/m)" and ax.get_legend() is not None


def test_generated_grid_has_a_label_per_row(tmp_path):
    from PIL import Image

    from semlab.generate import save_grid

    rng = np.random.default_rng(0)
    path = save_grid(
        tmp_path / "grid.png",
        rng.random((6, 24, 24)),
        columns=3,
        row_labels=["burst_count = 1", "burst_count = 8"],
    )
    with Image.open(path) as im:
        assert im.size[0] > 3 * 24  # drawn with labels, not the bare sheet
    plain = save_grid(tmp_path / "plain.png", rng.random((6, 24, 24)), columns=3)
    with Image.open(plain) as im:
        assert im.size == (3 * 26 + 2, 2 * 26 + 2)


def test_generate_report_figures_have_keys():
    from semlab.generate.evaluate import _descriptor_figure, _persistence_figure

    names = ["porosity", "specific_perimeter_per_um"]
    s = pd.DataFrame({"condition": ["burst_count=1", "burst_count=2", "burst_count=4"]})
    for n in names:
        s[f"{n}_real_mean"] = [0.30, 0.301, 0.5]
        s[f"{n}_generated_mean"] = [0.31, 0.305, 0.45]
        s[f"{n}_real_std"] = s[f"{n}_generated_std"] = 0.01
    report = SimpleNamespace(summary=s, r2={n: 0.8 for n in names})
    fig = _descriptor_figure(report, names)
    ax = fig.axes[1]
    assert ax.get_xlabel() == "real specific perimeter (µm⁻¹)" and ax.get_legend() is not None
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in ax.texts]
    assert 1 <= len(boxes) <= 3 and not any(
        a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :]
    )
    _keep(fig, "generate_descriptors.png")
    rng = np.random.default_rng(0)
    pis = [rng.random((4, 10, 10)) for _ in range(4)]
    fig = _persistence_figure(["b=1", "b=8"], pis, (0.0, 1.0, 0.0, 0.5))
    image_axes = [a for a in fig.axes if a.images]
    assert len(image_axes) == 4 and image_axes[-1].get_xlabel().startswith("birth")
    assert any(a.get_ylabel() == "mean weighted density" for a in fig.axes)  # the colour bar
    _keep(fig, "generate_persistence_images.png")


def test_demo_pictures_have_labels_and_scale_bars(tmp_path):
    from PIL import Image

    from semlab.demo._report import save_pictures

    rng = np.random.default_rng(0)
    examples = {b: (rng.random((120, 140)), [rng.random((32, 32)) for _ in range(4)]) for b in (1, 2, 4, 8)}
    series, patches = save_pictures(examples, tmp_path, pixel_size=0.05)
    for p in (series, patches):
        with Image.open(p) as im:
            assert im.size[0] > 200
    FIGURES.mkdir(parents=True, exist_ok=True)
    for p in (series, patches):
        (FIGURES / f"demo_{p.name}").write_bytes(p.read_bytes())
