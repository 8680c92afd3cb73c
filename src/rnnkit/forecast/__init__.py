"""Time-series forecasting around ``rnnkit.Forecaster``: windows, metrics, baselines, plots
and the CSV-to-checkpoint pipeline behind ``rnnkit forecast``.

    prepare.py   CSV → validated, split, standardised data and the DataSpec a checkpoint keeps
    windows.py   (look-back, future covariates, horizon) windows per split
    metrics.py   MAE, MSE, RMSE, MAPE, sMAPE, MASE
    baselines.py last value, seasonal naive, mean, linear (DLinear-style); period detection
    report.py    the metric table and the "loses to a baseline" lines
    plot.py      history, forecast, interval band, actuals
    pipeline.py  train_forecaster / evaluate_forecaster / predict_forecast
"""

from .baselines import LinearBaseline, baseline_forecasts, detect_period
from .metrics import all_metrics, mae, mape, mase, mse, rmse, smape
from .pipeline import (
    Evaluation,
    ForecastConfig,
    Prediction,
    evaluate_forecaster,
    load_forecaster,
    predict_forecast,
    train_forecaster,
    write_forecast_csv,
)
from .plot import plot_forecast
from .prepare import DataSpec, Prepared, prepare, prepare_like
from .windows import ForecastWindows, split_origins

__all__ = [
    "ForecastConfig", "train_forecaster", "evaluate_forecaster", "predict_forecast",
    "write_forecast_csv", "load_forecaster", "Evaluation", "Prediction",
    "DataSpec", "Prepared", "prepare", "prepare_like", "ForecastWindows", "split_origins",
    "mae", "mse", "rmse", "mape", "smape", "mase", "all_metrics",
    "LinearBaseline", "baseline_forecasts", "detect_period", "plot_forecast",
]
