"""Synthetic tables with known relations for the relate tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

TRUE_COEF = {"x1": 2.0, "x3": -3.0}
TRUE_INTERCEPT = 5.0


def _linear_table(n: int = 20, *, noise: float = 0.0, seed: int = 0, distractors: int = 4) -> pd.DataFrame:
    """Columns x0 … x{k}; y = 5 + 2·x1 − 3·x3 (+ Gaussian noise); the other x are distractors."""
    rng = np.random.default_rng(seed)
    cols = {f"x{j}": rng.normal(size=n) for j in range(distractors + 2)}
    df = pd.DataFrame(cols)
    df["y"] = TRUE_INTERCEPT + sum(c * df[f] for f, c in TRUE_COEF.items()) + noise * rng.normal(size=n)
    return df


@pytest.fixture
def linear_table():
    """The factory ``linear_table(n, noise=, seed=, distractors=)``."""
    return _linear_table


@pytest.fixture
def noiseless() -> pd.DataFrame:
    return _linear_table(20, noise=0.0)


@pytest.fixture
def noisy() -> pd.DataFrame:
    return _linear_table(20, noise=0.3, seed=1)


@pytest.fixture
def process_table() -> pd.DataFrame:
    """Five process settings × three specimens (15 rows)."""
    return _process_table()


@pytest.fixture
def true_coef() -> dict:
    return {"intercept": TRUE_INTERCEPT, **TRUE_COEF}


def _process_table(seed: int = 0) -> pd.DataFrame:
    """Five process settings × three specimens: density and tortuosity follow laser power."""
    rng = np.random.default_rng(seed)
    rows = []
    for power in (100, 150, 200, 250, 300):
        for spec in range(3):
            density = 0.55 + 0.0012 * (power - 100) + rng.normal(0, 0.01)
            tortuosity = density**-1.5 * (1 + rng.normal(0, 0.02))
            rows.append(
                {
                    "sample": f"P{power}-{spec}",
                    "laser_power_W": power,
                    "relative_density": density,
                    "tortuosity": tortuosity,
                    "specific_perimeter_per_um": 3.0 - 0.004 * power + rng.normal(0, 0.05),
                    "conductivity_MS_per_m": 58.0 * density / tortuosity + rng.normal(0, 0.4),
                }
            )
    return pd.DataFrame(rows)
