"""The generic model registry (no torch needed)."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass

import pytest

from semlab.errors import ParameterError
from semlab.registry import available, create, get_spec, make_config, register


@dataclass(frozen=True)
class _ToyConfig:
    size: int = 3
    scale: float = 1.0


@register("test-kind", "toy")
def _toy(config: _ToyConfig) -> tuple:
    """A toy model."""
    return ("toy", config.size, config.scale)


def test_register_create_available():
    assert available("test-kind") == ["toy"]
    assert create("test-kind", "toy") == ("toy", 3, 1.0)
    assert create("test-kind", "toy", size=5) == ("toy", 5, 1.0)
    assert create("test-kind", "toy", config={"scale": 2.0}, size=4) == ("toy", 4, 2.0)
    spec = get_spec("test-kind", "toy")
    assert spec.config_class is _ToyConfig and spec.to_dict()["defaults"] == {"size": 3, "scale": 1.0}
    assert make_config("test-kind", "toy", _ToyConfig(size=9)) == _ToyConfig(size=9)


def test_unknown_names_and_options():
    with pytest.raises(ParameterError, match="no test-kind named 'nope'; available test-kinds: toy"):
        create("test-kind", "nope")
    with pytest.raises(ParameterError, match="has no option colour"):
        create("test-kind", "toy", colour="red")
    with pytest.raises(TypeError, match="config dataclass"):
        register("test-kind", "bad")(lambda x: x)


def test_builtin_segmenter_listed_without_torch():
    code = (
        "import sys; from semlab.registry import available; import semlab.segment;"
        "print(available('segmenter'), 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['unet'] False"
