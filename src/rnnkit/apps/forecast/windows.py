"""Moved to ``rnnkit.data.windows`` (the one windowing module); these names stay importable."""

from ...data.windows import ForecastWindows, split_origins  # noqa: F401
