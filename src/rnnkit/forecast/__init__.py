"""Moved to ``rnnkit.apps.forecast`` (0.2); this name and its submodules
(``rnnkit.forecast.pipeline`` ...) stay importable for code written against 0.1.0."""

import importlib
import sys

from ..apps.forecast import *  # noqa: F403
from ..apps.forecast import __all__  # noqa: F401

for _name in ("baselines", "pipeline", "plot", "prepare", "report", "windows"):
    sys.modules[f"{__name__}.{_name}"] = importlib.import_module(f"rnnkit.apps.forecast.{_name}")
sys.modules[f"{__name__}.metrics"] = importlib.import_module("rnnkit.metrics")  # one home
