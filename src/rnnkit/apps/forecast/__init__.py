"""Forecasting: one global recurrent model over many series, the classical methods beside it,
and the single-table SegRNN path; ``Config`` -> ``train`` -> ``load`` -> ``ForecastPredictor``.

Two kinds of run, chosen by ``Config.mode``:

- ``auto`` (default) and ``rnn``: many series (long format ``id, time, value`` or every column
  of a wide table as its own series), one global ``Forecaster`` trained on windows from all
  of them; ``auto`` also fits seasonal naive, the closed-form linear model and statsforecast's
  ETS and Theta, and forecasts each series with the method (or mean of methods) that did best
  on validation (``auto.py``). ``ensemble=K``: K such networks (seeds, optionally
  look-backs), their forecasts' median or mean (``ensemble.py``), held in one checkpoint.
- ``segrnn``, ``direct``, ``recursive``: one multivariate table, one network, the windows of a
  chronological split (``pipeline.py``; ETTh1's protocol). 0.1.0 checkpoints are of this kind.

    config.py    Config (all settings; the CLI's flags come from it)
    panel.py     long-format reading and checks; the period from the timestamps' frequency
    methods.py   per-window normalisation, seasonal naive, linear map, statsforecast ETS/Theta
    auto.py      global model + validation choice + test scoring (the many-series path)
    ensemble.py  ForecasterEnsemble: K global networks, their forecasts' median or mean
    prepare.py   CSV -> split, standardised table and its DataSpec (the table path)
    windows.py   (look-back, future covariates, horizon) windows of a table
    pipeline.py  train_forecaster / evaluate_forecaster / predict_forecast (the table path)
    baselines.py, report.py, plot.py (metrics: rnnkit.metrics)

Example:
    >>> from rnnkit.apps import forecast
    >>> forecast.train(forecast.Config(id_col="unique_id", time_col="ds", target="y",
    ...                                horizon=12), "sales.csv", "runs/sales")
    >>> p = forecast.load("runs/sales")
    >>> p.predict("sales.csv")          # id, ds, forecast, lower, upper, method
"""

from __future__ import annotations

import json
from pathlib import Path

from ...metrics import all_metrics, mae, mape, mase, mse, rmse, smape
from ..base import Predictor, check_task_folder, register_app
from ..extras_check import reading_extras
from . import plot, report  # noqa: F401 - forecast.report / forecast.plot for the CLI
from .auto import evaluate_panel, forecast_panel, load_panel, train_panel
from .baselines import LinearBaseline, baseline_forecasts, detect_period
from .config import Config, ForecastConfig, mode_notes
from .panel import Panel, period_from_freq, read_panel
from .pipeline import (
    Evaluation,
    Prediction,
    evaluate_forecaster,
    evaluate_prepared,
    load_forecaster,
    predict_forecast,
    predict_with,
    prediction_frame,
    train_forecaster,
    write_forecast_csv,
)
from .plot import plot_forecast
from .prepare import DataSpec, Prepared, prepare, prepare_like
from .windows import ForecastWindows, split_origins

TASK = "forecast"

__all__ = [
    "TASK", "Config", "ForecastConfig", "train", "run", "load", "ForecastPredictor",
    "train_forecaster", "evaluate_forecaster", "predict_forecast", "write_forecast_csv",
    "load_forecaster", "Evaluation", "Prediction", "DataSpec", "Prepared", "prepare",
    "prepare_like", "ForecastWindows", "split_origins", "mae", "mse", "rmse", "mape", "smape",
    "mase", "all_metrics", "LinearBaseline", "baseline_forecasts", "detect_period",
    "plot_forecast", "read_panel", "Panel", "period_from_freq", "train_panel", "mode_notes",
]


def run(config: Config, data, checkpoint, *, device="cpu", quiet=False, log=print,
        resume=False) -> dict:
    """Train per ``config.mode`` and write ``checkpoint``; returns everything the run made
    (``history``, ``seconds``, ``test`` (many series) or ``evaluation`` (table), and
    ``notes``: what the data seem to hold that was not named (many series: a column of
    series ids or dates, ``Panel.notes``, also logged as ``note: ...`` when read), then the
    settings given that this mode ignores, in a line, as ``mode_notes``)."""
    config.check()
    check_task_folder(checkpoint, TASK)  # another application's model is not replaced
    if config.panel:
        result = train_panel(config, data, checkpoint, device=device, quiet=quiet, log=log,
                             resume=resume)
    else:
        result = train_forecaster(data, checkpoint, config, device=device, quiet=quiet,
                                  log=log, resume=resume)
    result["kind"] = "panel" if config.panel else "table"
    panel = result.get("panel")
    result["notes"] = (list(panel.notes) if panel is not None else []) + mode_notes(config)
    return result


def train(config: Config, data, checkpoint, **kwargs):
    """``run`` returning the network's training ``History`` (None when ``auto`` was given no
    ``rnn`` among its methods)."""
    return run(config, data, checkpoint, **kwargs)["history"]


class ForecastPredictor(Predictor):
    """A trained forecaster.

    ``predict(data, origin=None, level=None)`` -> pandas DataFrame in long format: ``id``,
    the time column, ``forecast``, ``lower``, ``upper`` (and ``method`` for many-series
    models, ``actual`` for table models). ``data``: a CSV / Parquet path or a DataFrame
    (table models: a CSV path). ``origin`` (table models): forecast from a timestamp or row
    inside the file instead of after its last row.

    ``evaluate(data, part="test", standardised=False)`` -> dict: many-series models give
    ``{"overall": {method: {sMAPE, MASE, MAE, RMSE}}, "per_series": ..., "choice": ...}`` on
    the last horizon of every series; table models the metric rows of ``part``.
    """

    task = TASK

    def __init__(self, model, config, path=None, *, spec=None, state=None):
        super().__init__(model, config, path)
        self.spec, self.state = spec, state  # table: DataSpec; many series: PanelState
        self.warnings: list[str] = []  # what reading the last data said (series skipped, ...)

    @property
    def kind(self) -> str:
        return "panel" if self.state is not None else "table"

    def describe(self) -> dict:
        if self.model is not None:
            return super().describe()
        from dataclasses import asdict  # auto without a network: classical methods only

        return {"task": self.task, "model_class": None, "parameters": 0, "streams": False,
                "config": asdict(self.config)}

    def _panel(self, data):
        s = self.state
        panel = read_panel(data, id_col=s.id_col, time_col=s.time_col,
                           target=s.target if s.id_col else s.target or "all",
                           static=",".join(s.static) or None,
                           covariates=",".join(s.covariates) or None, period=s.period,
                           fill=self.config.fill)
        self.warnings = list(panel.warnings)  # skipped series: said, not silently left out
        return panel

    @property
    def device(self):
        """Where the network runs (``load``'s device; the CPU for classical methods only)."""
        import torch

        p = None if self.model is None else next(self.model.parameters(), None)
        return p.device if p is not None else torch.device("cpu")

    def predict(self, data, origin=None, level: float | None = None, device=None):
        """See the class doc; ``device`` None: where the model is (``load``'s device)."""
        device = self.device if device is None else device
        if self.state is not None:
            if origin is not None:
                raise ValueError("origin: many-series models forecast after each series' "
                                 "last row; cut the data to forecast from earlier")
            panel = self._panel(data)
            frame = forecast_panel(self.state, self.model, panel, level)
            self.warnings = list(panel.warnings)  # and what forecasting said (short series)
            return frame
        pred = predict_with(self.model, self.spec, data, origin=origin, level=level,
                            device=device)
        return prediction_frame(pred)

    def evaluate(self, data, part: str = "test", standardised: bool = False,
                 device=None) -> dict:
        device = self.device if device is None else device
        if self.state is not None:
            if part != "test" or standardised:  # said, not silently the test table
                raise ValueError("part and standardised: many-series models are scored on "
                                 "each series' last horizon (the test part), in the data's "
                                 "own units")
            panel = self._panel(data)
            metrics = evaluate_panel(self.state, self.model, panel)
            self.warnings = list(panel.warnings)  # and what scoring said (flat series)
            return metrics
        ev = evaluate_prepared(self.model, prepare_like(data, self.spec), part, standardised,
                               device)
        return {"overall": ev.rows, "windows": ev.windows, "units": ev.units,
                "coverage": ev.coverage}


def load(path, device: str = "cpu") -> ForecastPredictor:
    """The predictor of a forecast checkpoint (any version, table or many series), its network
    on ``device`` ("cpu", "cuda", "cuda:1", "auto"; one this machine lacks is refused)."""
    from ...checkpoint import load_extras
    from ...runtime import resolve_device

    device = resolve_device(device)
    extras = load_extras(path).get("forecast") or {}
    if extras.get("kind") == "panel":
        state, model, config = load_panel(path)
        if model is not None:
            model.to(device)
        # runs before output was checked stored the output asked for; their network forecasts
        # points (what a many-series run trains), as this config now says
        config = {**config, "output": "point"}
        with reading_extras(path, "forecast config"):  # hand-edited: mode banana, ...
            config = Config.from_dict(config).check()
        return ForecastPredictor(model, config, path, state=state)
    model, spec, config = load_forecaster(path)
    with reading_extras(path, "forecast config"):
        config.check()
    if spec.scaler is not None:
        from ...data.timeseries import StandardScaler

        with reading_extras(path, "forecast scaler"):
            StandardScaler.from_dict(spec.scaler)
    return ForecastPredictor(model.to(device), config, path, spec=spec)


def write_json(obj, path) -> Path:
    """``obj`` as indented JSON at ``path``, atomically; NaN and inf (a metric undefined:
    MAPE at zeros, a flat series' MASE) as null, which strict parsers read."""
    from ...checkpoint import atomic_write, json_safe

    path = Path(path)
    text = json.dumps(json_safe(obj), indent=1, allow_nan=False) + "\n"
    atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))
    return path


register_app(TASK, load)
