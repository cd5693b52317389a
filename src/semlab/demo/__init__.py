"""The end-to-end demo on built-in synthetic data (``semlab demo``, ``make demo``).

>>> from semlab.demo import run_demo
>>> result = run_demo("demo-output", quick=True)  # doctest: +SKIP
>>> result.report  # doctest: +SKIP
'/…/demo-output/report.md'

The demo is a user of semlab, not a part of its stages: it calls only the stages' public
functions, and its steps live in private modules of this package (``_prepare``,
``_structure``, ``_features``, ``_learn``, ``_maps``, ``_relate``, ``_generate``,
``_report``).  No stage package holds demo code.
"""

from semlab.demo._prepare import PATCHES_PER_IMAGE
from semlab.demo._run import DemoResult, run_demo

__all__ = ["PATCHES_PER_IMAGE", "DemoResult", "run_demo"]
