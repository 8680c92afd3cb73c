"""Moved to ``rnnkit.metrics`` (every metric in one module); these names stay importable."""

from ...metrics import (  # noqa: F401
    METRICS,
    all_metrics,
    mae,
    mape,
    mase,
    mase_scale,
    mse,
    rmse,
    smape,
)
