"""Forecasting from a CSV, as plain functions the ``rnnkit forecast`` verb wraps:

- ``train_forecaster(csv, checkpoint_dir, config)``: prepare the data (all checks first),
  train a ``Forecaster`` with ``rnnkit.fit`` (early stopping on the validation split), save
  it with the data spec (scaler, columns, split, period, linear baseline) and report the test
  split against the baselines;
- ``evaluate_forecaster(checkpoint, csv)``: metrics of the model and every baseline on the
  test split's windows;
- ``predict_forecast(checkpoint, csv, origin=None)``: forecast the steps after the last row
  (or from ``origin`` inside the file, with the actuals beside), with intervals when the
  model is probabilistic; ``write_forecast_csv`` and ``plot_forecast`` write them.
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from ...checkpoint import atomic_write, load, load_extras, save
from ...data.timeseries import calendar_features, format_time
from ...metrics import all_metrics
from ...models.forecaster import Forecaster
from ...runtime import resolve_device
from ..finished import say_finished, spent_epochs
from .baselines import LinearBaseline, baseline_forecasts
from .config import TABLE_MODES, Config, ForecastConfig
from .panel import frequency, future_index
from .prepare import DataSpec, Prepared, prepare, prepare_like
from .report import metric_table, verdict_lines

__all__ = ["ForecastConfig", "table_model", "Evaluation", "Prediction", "train_forecaster",
           "evaluate_forecaster", "evaluate_prepared", "predict_forecast", "predict_with",
           "write_forecast_csv", "load_forecaster", "prediction_frame"]

MODEL = "forecaster"


TABLE_LOOKBACK, TABLE_HORIZON = 96, 24  # table modes' look-back and horizon when not given


def table_model(config: Config, spec: DataSpec) -> Forecaster:
    """The network of the table modes (segrnn, direct, recursive) for ``spec``'s columns."""
    return Forecaster(len(spec.features), spec.lookback, spec.horizon, cell=config.cell,
                      hidden_size=config.hidden_size, num_layers=config.num_layers,
                      mode=config.mode, target_index=spec.target_index,
                      covariate_size=len(spec.calendar_names), output=config.output,
                      quantiles=tuple(config.quantiles), segment_length=config.segment_length,
                      dropout=config.dropout, norm=config.norm, point_loss=config.point_loss)


@dataclass
class Evaluation:
    """Metrics of the model and the baselines on one split's windows."""

    rows: dict[str, dict[str, float]]  # method -> metric -> value
    windows: int
    units: str  # "original" or "standardised"
    coverage: float | None = None  # share of actuals inside the interval (probabilistic)
    width: float | None = None  # mean interval width
    level: float | None = None
    note: str | None = None  # why a metric is left out

    def table(self) -> str:
        return metric_table(self.rows, MODEL)

    def verdicts(self) -> list[str]:
        return verdict_lines(self.rows, MODEL)

    def text(self) -> str:
        lines = [f"{self.windows} windows, metrics in {self.units} units", self.table()]
        if self.note:
            lines.append(self.note)
        if self.coverage is not None:
            lines.append(f"{self.level:.0%} intervals hold {self.coverage:.1%} of the actuals "
                         f"(mean width {self.width:.4g})")
        return "\n".join(lines + self.verdicts())


def _model_outputs(model: Forecaster, x, fc, device, level=None):
    model.to(device)
    fcast = model.forecast(x.to(device), None if fc is None else fc.to(device), level=level)
    return {k: None if v is None else v.cpu().numpy() for k, v in
            (("point", fcast.point), ("lower", fcast.lower), ("upper", fcast.upper))}, fcast.level


def evaluate_prepared(model: Forecaster, prep: Prepared, part: str = "test",
                      standardised: bool = False, device="cpu") -> Evaluation:
    """The model and every baseline on the windows of ``part``."""
    spec = prep.spec
    tgt = spec.target_index
    x, fc, y = prep.windows(part).arrays()
    if len(x) == 0:
        raise ValueError(f"the {part} split has no full window (needs horizon = {spec.horizon} "
                         "rows)")
    out, level = _model_outputs(model, x, fc, resolve_device(device))
    forecasts = {MODEL: out["point"]}
    linear = LinearBaseline.from_dict(spec.linear) if spec.linear else None
    forecasts.update(baseline_forecasts(x[..., tgt].numpy(), spec.horizon, spec.period, linear))
    actual = y.numpy()
    mase = np.asarray(spec.mase_scale)
    if standardised:
        units, mase = "standardised", mase / prep.scaler.std[tgt]

        def back(a):
            return a
    else:
        units = "original"

        def back(a):
            return prep.scaler.inverse_transform(a, tgt)
    rows = {name: all_metrics(back(actual), back(f), mase) for name, f in forecasts.items()}
    if standardised:  # percentages of standardised values (around 0) mean nothing
        for r in rows.values():
            r["MAPE"] = r["sMAPE"] = float("nan")
    ev = Evaluation(rows, len(x), units)
    if not standardised and (np.asarray(back(actual)) <= 0).any():
        for r in rows.values():
            r["MAPE"] = float("nan")
        ev.note = ("MAPE left out: the actuals reach zero or below, where a percentage error "
                   "means nothing (see sMAPE and MASE)")
    if out["lower"] is not None:
        lo, hi, act = back(out["lower"]), back(out["upper"]), back(actual)
        ev.coverage = float(np.mean((act >= lo) & (act <= hi)))
        ev.width, ev.level = float(np.mean(hi - lo)), level
    return ev


def load_forecaster(checkpoint) -> tuple[Forecaster, DataSpec, ForecastConfig]:
    """The model, its data spec and its config from a ``rnnkit forecast train`` checkpoint."""
    extras = load_extras(checkpoint).get("forecast")
    if not extras:
        raise ValueError(f"{checkpoint} is not a forecasting checkpoint (no 'forecast' extras); "
                         "train one with rnnkit forecast train")
    model = load(checkpoint)
    if not isinstance(model, Forecaster):
        raise ValueError(f"{checkpoint} holds a {type(model).__name__}, not a Forecaster")
    return model, DataSpec.from_dict(extras["data"]), ForecastConfig.from_dict(extras["config"])


def train_forecaster(csv_path, checkpoint_dir, config: ForecastConfig, *, device="auto",
                     quiet: bool = False, log=print, resume: bool = False) -> dict:
    """Prepare, train, save, report; returns the model, the data, the history and the test
    evaluation. Nothing is written until the data and options have passed every check.
    This is the table path: a many-series mode (auto, rnn) in ``config`` means segrnn here,
    0.1.0's default."""
    if config.mode not in TABLE_MODES:
        config = replace(config, mode="segrnn")
    prep = prepare(csv_path, lookback=config.lookback or TABLE_LOOKBACK,
                   horizon=config.horizon or TABLE_HORIZON,
                   time_col=config.time_col, target=config.target, features=config.features,
                   split=config.split, fill=config.fill, calendar=config.calendar,
                   period=config.period)
    from ...train import fit  # the training loop

    ckpt = Path(checkpoint_dir)
    if ckpt.exists() and not ckpt.is_dir():
        raise ValueError(f"checkpoint {ckpt} exists and is not a folder")
    torch.manual_seed(config.seed)
    model = table_model(config, prep.spec)
    tr = prep.windows("train").arrays()
    va = prep.windows("val").arrays()

    def data(a):
        x, fc, y = a
        return ((x, fc) if fc is not None else x), y

    spec = prep.spec
    if not quiet:
        ts = prep.ts
        log(f"{ts.source}: {len(ts)} rows, inputs {', '.join(spec.features)}, target "
            f"{', '.join(spec.target)}" + (f", calendar {len(spec.calendar_names)} covariates"
                                           if spec.calendar else ""))
        log(f"split rows train {prep.split.train}, val {prep.split.val}, test {prep.split.test}"
            f"; windows {len(tr[0])}/{len(va[0])}; seasonal period "
            f"{spec.period if spec.period else 'none found'}")
        log("config: " + ", ".join(f"{k}={v}" for k, v in config.read_by_mode().items()))
        log(f"model: {model.mode} {config.cell.upper()} forecaster, "
            f"{sum(p.numel() for p in model.parameters()):,} parameters")
    extras = {"task": "forecast", "forecast": {"kind": "table", "data": spec.to_dict(),
                                               "config": config.to_dict()}}
    t0 = time.perf_counter()
    spent = spent_epochs(ckpt, config.time_budget, "forecast", "config", "time_budget") \
        if resume else None
    history = fit(model, data(tr), val_data=data(va) if len(va[0]) else None,
                  epochs=spent or config.epochs, batch_size=config.batch_size, loss=model.loss,
                  lr=config.lr, weight_decay=config.weight_decay, schedule=config.schedule,
                  clip_norm=config.clip_norm, **config.stopping(bool(len(va[0]))),
                  checkpoint_dir=ckpt, resume=resume, seed=config.seed, device=device,
                  progress=not quiet,
                  time_budget=config.time_budget, extras=extras)
    seconds = time.perf_counter() - t0
    model.cpu().eval()
    ev = evaluate_prepared(model, prep, "test")
    extras["forecast"]["train_seconds"] = round(seconds, 1)
    extras["forecast"]["test"] = {k: (None if np.isnan(v) else v) for k, v in
                                  ev.rows[MODEL].items()}
    finished = history.already_finished
    if finished:  # the stored run was complete: its model stays as saved
        say_finished("forecast", ckpt, len(history))
    else:
        save(model, ckpt, extras=extras)  # the restored best weights, with the test figures
    if not quiet and not finished:  # a finished run's note says nothing was trained
        last = history.rows[-1]
        log(f"trained {len(history)} epochs in {seconds:.1f} s (best epoch "
            f"{history.best_epoch}, stop: {history.stop_reason or 'epochs done'}); last train "
            f"loss {last['train_loss']:.4f}" + (f", val loss {last['val_loss']:.4f}"
                                                if last["val_loss"] is not None else ""))
    return {"model": model, "prepared": prep, "history": history, "evaluation": ev,
            "seconds": seconds, "checkpoint": ckpt, "finished": finished}


def evaluate_forecaster(checkpoint, csv_path, *, part: str = "test", standardised=False,
                        device="cpu") -> Evaluation:
    """Metrics of a saved forecaster and the baselines on ``part`` of ``csv_path``."""
    model, spec, _ = load_forecaster(checkpoint)
    prep = prepare_like(csv_path, spec)
    return evaluate_prepared(model, prep, part, standardised, device)


# ------------------------------------------------------------------------------- predict
@dataclass
class Prediction:
    """One forecast in original units: H steps of the target columns."""

    columns: list[str]
    times: np.ndarray  # (H,) the forecast steps' timestamps (or row numbers)
    point: np.ndarray  # (H, T)
    lower: np.ndarray | None = None
    upper: np.ndarray | None = None
    level: float | None = None
    actual: np.ndarray | None = None  # (H, T), NaN past the end of the file
    history_times: np.ndarray = field(default_factory=lambda: np.zeros(0))
    history: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # (N, T)
    time_col: str = "step"


def _origin_row(prep: Prepared, origin) -> int:
    ts, L = prep.ts, prep.spec.lookback
    n = len(ts)
    if origin is None:
        return n
    text = str(origin).strip()
    numeric_times = ts.times is not None and not ts.has_dates
    if text.isdigit() and not numeric_times:  # a row number
        row = int(text)
        if row > n:
            raise ValueError(f"the origin row must lie in [{L}, {n}], got {row}")
    elif ts.times is None:
        raise ValueError(f"the origin must be a row number (the data has no time column), got "
                         f"{origin!r}")
    else:
        try:
            t = (np.datetime64(text.replace(" ", "T"), "s") if ts.has_dates else float(text))
        except ValueError:
            raise ValueError(f"cannot read the origin {origin!r} as a "
                             f"{'date' if ts.has_dates else 'number'}") from None
        hits = np.nonzero(ts.times == t)[0]
        if not len(hits):
            raise ValueError(f"the origin {origin!r} is not a timestamp in {ts.source}")
        row = int(hits[0])
    if row < L:
        raise ValueError(f"the origin needs lookback = {L} rows before it; it is row {row}")
    return row


def predict_forecast(checkpoint, csv_path, *, origin=None, level: float | None = None,
                     device="cpu") -> Prediction:
    """Forecast the horizon after the last row of ``csv_path`` (or from ``origin``: a
    timestamp or row number of the first forecast step, so actuals can be compared)."""
    model, spec, _ = load_forecaster(checkpoint)
    return predict_with(model, spec, csv_path, origin=origin, level=level, device=device)


def predict_with(model: Forecaster, spec: DataSpec, csv_path, *, origin=None,
                 level: float | None = None, device="cpu") -> Prediction:
    """``predict_forecast`` with the model and data spec already loaded."""
    prep = prepare_like(csv_path, spec, need_rows=False)
    if level is not None and model.output == "point":
        raise ValueError("this model gives point forecasts only (trained with output=point); "
                         "drop --level or train with --output gaussian|quantile")
    ts, L, H = prep.ts, spec.lookback, spec.horizon
    row = _origin_row(prep, origin)
    n = len(ts)
    known = min(n, row + H) - row  # forecast steps that are in the file
    if ts.times is None:
        times = np.arange(row, row + H)
        hist_t = np.arange(row - L, row)
    else:
        step = (np.timedelta64(int(spec.step), "s") if ts.has_dates else spec.step)
        extra = ts.times[n - 1] + step * np.arange(1, H - known + 1)
        freq = frequency(ts.times[-max(L, 3):]) if ts.has_dates else None
        if freq:  # calendar steps (months, quarters, years) are not a fixed number of seconds
            extra = future_index(ts.times[n - 1], freq, None, H - known).astype(extra.dtype)
        times = np.concatenate([ts.times[row:row + known], extra]) if known < H else \
            ts.times[row:row + H]
        hist_t = ts.times[row - L:row]
    x = prep.z[row - L:row]
    fc = None
    if spec.calendar:
        allt = np.concatenate([hist_t, times])
        cov, _ = calendar_features(allt, np.timedelta64(int(spec.step), "s"))
        x = np.concatenate([x, cov[:L]], 1)
        fc = torch.as_tensor(cov[L:][None], dtype=torch.float32)
    out, lvl = _model_outputs(model, torch.as_tensor(x[None], dtype=torch.float32), fc,
                              resolve_device(device), level)
    tgt = spec.target_index

    def back(a):
        return None if a is None else prep.scaler.inverse_transform(a[0], tgt)
    actual = np.full((H, len(tgt)), np.nan)
    actual[:known] = ts.values[row:row + known][:, tgt]
    return Prediction(columns=list(spec.target), times=times, point=back(out["point"]),
                      lower=back(out["lower"]), upper=back(out["upper"]), level=lvl,
                      actual=actual if known else None, history_times=hist_t,
                      history=ts.values[row - L:row][:, tgt], time_col=spec.time_col or "step")


def write_forecast_csv(pred: Prediction, path) -> Path:
    """``time, col, [col_lower, col_upper], [col_actual]`` per forecast step, atomically."""
    header = [pred.time_col]
    for c in pred.columns:
        header.append(c)
        if pred.lower is not None:
            header += [f"{c}_lower", f"{c}_upper"]
        if pred.actual is not None:
            header.append(f"{c}_actual")
    rows = []
    for k, t in enumerate(pred.times):
        row = [format_time(t) if isinstance(t, np.datetime64) else f"{t:g}"]
        for j in range(len(pred.columns)):
            row.append(f"{pred.point[k, j]:.6g}")
            if pred.lower is not None:
                row += [f"{pred.lower[k, j]:.6g}", f"{pred.upper[k, j]:.6g}"]
            if pred.actual is not None:
                a = pred.actual[k, j]
                row.append("" if np.isnan(a) else f"{a:.6g}")
        rows.append(row)

    def write(p: Path) -> None:
        with p.open("w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(header)
            w.writerows(rows)
    path = Path(path)
    atomic_write(path, write)
    return path


def prediction_frame(pred: Prediction):
    """A ``Prediction`` in long format: ``id`` (the column), time, ``forecast``, ``lower``,
    ``upper`` (NaN for point models) and ``actual`` (NaN where unknown)."""
    import pandas as pd

    frames = []
    for j, col in enumerate(pred.columns):
        def pick(a, j=j):
            return np.full(len(pred.times), np.nan) if a is None else a[:, j]
        frames.append(pd.DataFrame({"id": col, pred.time_col: pred.times,
                                    "forecast": pred.point[:, j], "lower": pick(pred.lower),
                                    "upper": pick(pred.upper), "actual": pick(pred.actual)}))
    return pd.concat(frames, ignore_index=True)
