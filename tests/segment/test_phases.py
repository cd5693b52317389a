"""Named phases: auto_foreground, foreground= on every method, segment_labelled, NO_DATA."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from semlab.errors import ParameterError
from semlab.segment import (
    FOREGROUND_RULES,
    NO_DATA,
    auto_foreground,
    hybrid_annotation,
    legend_entries,
    otsu_threshold,
    overlay_panels,
    phase_fractions,
    segment_image,
    segment_labelled,
    threshold_image,
)

EMPS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "segmentation" / "emps-train"


def _particles(bright: bool, *, n: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Discs of one phase inside a field of the other (22 % of the image), with noise; and their mask."""
    rng = np.random.default_rng(seed)
    rr, cc = np.mgrid[:96, :128]
    mask = np.zeros((96, 128), bool)
    for r, c in [(25, 30), (30, 90), (70, 40), (65, 100), (48, 64), (80, 75)][:n]:
        mask |= (rr - r) ** 2 + (cc - c) ** 2 < 10**2
    fg, bg = (200.0, 50.0) if bright else (50.0, 200.0)
    image = np.where(mask, fg, bg) + rng.normal(0, 12, mask.shape)
    return image, mask


@pytest.mark.parametrize("bright", [True, False])
def test_auto_foreground_finds_the_objects_inside_the_field(bright):
    image, mask = _particles(bright)
    choice = auto_foreground(image)
    assert choice.foreground == ("bright" if bright else "dark")
    assert choice.rule == "border" and "border" in choice.detail
    assert choice.bright_fraction == pytest.approx(mask.mean() if bright else 1 - mask.mean(), abs=0.02)


def test_rules_differ_where_the_objects_are_the_majority():
    """Particles covering most of the field: the minority rule picks the background, the border rule does not."""
    rr, cc = np.mgrid[:100, :100]
    mask = np.zeros((100, 100), bool)
    for r in (20, 50, 80):
        for c in (20, 50, 80):
            mask |= (rr - r) ** 2 + (cc - c) ** 2 < 14**2
    image = np.where(mask, 220.0, 40.0)
    assert mask.mean() > 0.5
    assert auto_foreground(image, rule="minority").foreground == "dark"
    assert auto_foreground(image).foreground == "bright"
    assert auto_foreground(image, rule="touching").foreground == "bright"


def test_auto_foreground_constant_and_errors():
    choice = auto_foreground(np.full((20, 20), 7))
    assert choice.rule == "constant" and "single grey value" in choice.detail
    with pytest.raises(ParameterError, match="rule="):
        auto_foreground(np.zeros((5, 5)), rule="biggest")
    with pytest.raises(ParameterError, match="foreground="):
        segment_labelled(np.zeros((5, 5)), method="otsu", foreground="particles")
    assert FOREGROUND_RULES[0] == "border"


def test_threshold_foreground_labels_the_chosen_phase():
    image, mask = _particles(True)
    dark = otsu_threshold(image)  # default: 1 = dark (porous-film convention)
    bright = otsu_threshold(image, foreground="bright")
    auto = threshold_image(image, method="otsu", foreground="auto")
    assert np.mean(dark.labels == ~mask) > 0.99 and np.mean(bright.labels == mask) > 0.99
    assert auto.foreground == "bright" and np.mean(auto.labels == mask) > 0.97
    assert bright.to_dict()["foreground_fraction"] == pytest.approx(mask.mean(), abs=0.01)
    assert bright.to_dict()["pore_fraction"] == pytest.approx(1 - mask.mean(), abs=0.01)


def test_hybrid_bright_foreground_is_the_negated_image():
    image, mask = _particles(True)
    a = hybrid_annotation(image, foreground="bright")
    b = hybrid_annotation(-image)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert a.foreground == "bright" and np.mean((a.labels > 0) == mask) > 0.97
    np.testing.assert_array_equal(segment_image(image, method="hybrid", foreground="auto"), a.labels)


def test_segment_labelled_keeps_the_shape_and_marks_the_databar():
    image, mask = _particles(True)
    full = np.vstack([image, np.zeros((16, 128))])  # a black data bar below
    seg = segment_labelled(full, method="otsu", phase_name="particle", crop_databar=96)
    assert seg.labels.shape == full.shape and seg.databar_row == 96
    assert (seg.labels[96:] == NO_DATA).all() and not (seg.labels[:96] == NO_DATA).any()
    assert seg.classes == {0: "background", 1: "particle"} and seg.measured_phase == "particle"
    assert seg.foreground is not None and seg.foreground.foreground == "bright"
    # fractions of the micrograph only: the bar's 16 rows count nowhere
    assert seg.measured_fraction == pytest.approx(mask.mean(), abs=0.01)
    assert seg.fractions()["particle"] == pytest.approx(seg.measured_fraction)
    assert seg.to_metadata()["no_data"] == NO_DATA and seg.warnings == ()
    dark = segment_labelled(full, method="otsu", foreground="dark", crop_databar=96)
    assert dark.classes[1] == "dark phase" and dark.foreground.rule == "given"
    hyb = segment_labelled(full, method="hybrid", foreground="dark", crop_databar=False)
    assert hyb.classes == {0: "solid", 1: "pore", 2: "shine_through"} and hyb.measured_labels == (1, 2)


def test_blank_frame_is_a_warning_not_a_confident_answer():
    seg = segment_labelled(np.zeros((64, 64), np.uint8), method="hybrid")
    assert seg.warnings and "blank" in seg.warnings[0]
    assert seg.foreground.rule == "constant"
    near = np.full((64, 64), 100.0) + np.random.default_rng(0).normal(0, 0.3, (64, 64))
    assert segment_labelled(near, method="otsu").warnings


def test_phase_fractions_ignore_no_data():
    lab = np.array([[0, 1], [NO_DATA, NO_DATA]])
    assert phase_fractions(lab, {0: "a", 1: "b"}) == {"a": 0.5, "b": 0.5}
    assert phase_fractions(lab, {0: "a", 1: "b"}, no_data=None) == {"a": 0.25, "b": 0.25}
    assert np.isnan(phase_fractions(np.full((2, 2), NO_DATA), {0: "a"})["a"])


def test_overlay_key_names_the_classes_and_the_scale_bar_is_drawn():
    image, mask = _particles(True)
    labels = mask.astype(np.uint8)
    labels[-10:] = NO_DATA
    entries = legend_entries(labels, {0: "background", 1: "particle"}, no_data=NO_DATA)
    assert [e[0] for e in entries] == ["background", "particle", "no data (data bar)"]
    plain = overlay_panels(image, labels)
    keyed = overlay_panels(image, labels, classes={0: "background", 1: "particle"}, pixel_size=0.05)
    assert keyed.shape[1] == plain.shape[1] and keyed.shape[0] > plain.shape[0]  # a key strip below
    # the no-data rows are left untinted (grey) in the labels panel
    panel = keyed[14 + 90, 128 + 4 + 5]
    assert panel[0] == panel[1] == panel[2]
    # scale bar: white pixels in the bottom-left of the micrograph panel (rows of data end at 86)
    corner = keyed[14 + 60 : 14 + 86, :70]
    assert (corner == 255).all(axis=2).sum() > 20


@pytest.mark.slow
def test_auto_rule_picks_the_particles_on_real_emps_images():
    """The default rule agrees with the truth's polarity on >= 90 % of the 80 EMPS images (bench: 75/80)."""
    if not (EMPS / "images").is_dir():
        pytest.skip(f"EMPS images not found at {EMPS}")
    from semlab.io import read_micrograph

    files = sorted((EMPS / "images").glob("*.png"))
    hits = []
    for f in files:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # colour -> grey notes
            image = read_micrograph(f).image
            truth = read_micrograph(EMPS / "segmaps" / f.name).image > 0
        bright = otsu_threshold(image).labels == 0

        def iou(m, t=truth):
            return (m & t).sum() / max((m | t).sum(), 1)

        oracle = "bright" if iou(bright) > iou(~bright) else "dark"
        hits.append(auto_foreground(image).foreground == oracle)
    assert np.mean(hits) >= 0.9, f"{np.sum(hits)} of {len(hits)}"


def test_an_uncertain_automatic_choice_is_a_warning():
    """Two phases in equal halves, both on the border: the rule cannot tell them apart."""
    image = np.zeros((64, 64))
    image[:, 32:] = 200.0
    image += np.random.default_rng(1).normal(0, 5, image.shape)
    choice = auto_foreground(image)
    assert choice.uncertain and abs(choice.margin) < 0.1
    seg = segment_labelled(image, method="otsu", crop_databar=False)
    assert any("uncertain" in w for w in seg.warnings)
    given = segment_labelled(image, method="otsu", foreground="bright", crop_databar=False)
    assert not given.foreground.uncertain and given.warnings == ()
    particles, _ = _particles(True)
    assert not auto_foreground(particles).uncertain
