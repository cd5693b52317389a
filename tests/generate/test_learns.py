"""Done-when: a tiny conditional DDPM on CPU learns how porosity follows the burst count."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.slow  # docs/conventions.md: slow tests are skipped by `make test-fast`

pytest.importorskip("torch")


def test_generated_porosity_follows_burst_count(trained_ddpm, burst_patches):
    """Real patches: porosity falls from burst 1 to burst 8 (≈0.28 → 0.17 at the pooled Otsu
    threshold).  The generated images must show the same fall.  Measured with this seed:
    generated ≈0.36 (burst 1) vs ≈0.27 (burst 8), a gap of ≈0.08; asserted: a gap > 0.03."""
    patches, table, _ = burst_patches
    gen = trained_ddpm.generator
    thr = gen.threshold
    real = {b: float((patches[table["burst_count"].to_numpy() == b] <= thr).mean()) for b in (1, 8)}
    assert real[1] - real[8] > 0.08  # the data really carry the trend
    synth = {b: float((gen.sample({"burst_count": b}, 32, seed=1, steps=10) <= thr).mean()) for b in (1, 8)}
    assert synth[1] - synth[8] > 0.03, (real, synth)
    # not a constant image: porosity in a plausible range and varied images
    assert all(0.05 < v < 0.6 for v in synth.values()), synth
    imgs = gen.sample({"burst_count": 1}, 8, seed=2, steps=10)
    assert np.std(imgs.reshape(8, -1).mean(1)) > 0 and imgs.std() > 0.1


def test_guidance_strengthens_the_condition(trained_ddpm):
    """w = 3 pushes the two conditions further apart than w = 0 (unconditional: no gap)."""
    gen = trained_ddpm.generator
    thr = gen.threshold

    def gap(w):
        p = [
            float((gen.sample({"burst_count": b}, 24, seed=5, steps=10, guidance=w) <= thr).mean())
            for b in (1, 8)
        ]
        return p[0] - p[1]

    assert gap(0.0) == 0.0
    assert gap(3.0) > 0.03
