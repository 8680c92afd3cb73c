"""From a CSV to standardised windows: everything a forecaster needs before training, and the
``DataSpec`` a checkpoint stores so that ``predict`` and ``evaluate`` see the data the same way.

Order of work (all checks first, so bad input fails before anything is written):
read and validate the CSV → chronological split → row-count checks for lookback + horizon →
scaler fitted on the training rows only → calendar covariates → seasonal period (given or
detected on the training rows) → the MASE scale and the linear baseline, both from training
rows only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from ...data.timeseries import (
    Split,
    StandardScaler,
    TimeSeries,
    calendar_features,
    chronological_split,
    infer_step,
    read_timeseries,
)
from ...metrics import mase_scale
from .baselines import LinearBaseline, detect_period
from .windows import ForecastWindows, split_origins

__all__ = ["DataSpec", "Prepared", "prepare", "prepare_like"]


@dataclass
class DataSpec:
    """How a CSV becomes model inputs; JSON-able, stored in the checkpoint's extras."""

    lookback: int
    horizon: int
    time_col: str | None  # timestamp column, or None (rows are steps)
    target: list[str]  # forecast columns
    features: list[str]  # input channels, in order (targets included)
    split: str = "0.7,0.1,0.2"  # as given: fractions or row counts
    fill: str | None = None  # missing-value strategy, or None to refuse them
    calendar: bool = False  # calendar covariates from the time column
    calendar_names: list[str] = field(default_factory=list)
    step: float | None = None  # the time step (seconds for dates), for future timestamps
    period: int | None = None  # seasonal period for the seasonal-naive baseline and MASE
    scaler: dict = field(default_factory=dict)  # StandardScaler.to_dict()
    mase_scale: list[float] = field(default_factory=list)  # per target, original units
    linear: dict = field(default_factory=dict)  # LinearBaseline.to_dict() (standardised)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> DataSpec:
        return cls(**d)

    @property
    def target_index(self) -> list[int]:
        return [self.features.index(c) for c in self.target]


@dataclass
class Prepared:
    """A CSV read under a ``DataSpec``: standardised values, covariates and the split."""

    spec: DataSpec
    ts: TimeSeries
    split: Split
    scaler: StandardScaler
    z: np.ndarray  # (N, C) standardised channels
    cov: np.ndarray | None  # (N, K) calendar covariates

    def windows(self, part: str) -> ForecastWindows:
        """The windows of ``"train"``, ``"val"`` or ``"test"``."""
        rng = getattr(self.split, part)
        L, H = self.spec.lookback, self.spec.horizon
        return ForecastWindows(self.z, split_origins(rng, L, H), L, H, self.spec.target_index,
                               self.cov)


def _positive(name: str, value) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def _check_rows(ts: TimeSeries, split: Split, L: int, H: int) -> None:
    n = len(ts)
    if n < L + H:
        raise ValueError(f"{ts.source} has {n} rows; a forecast needs at least lookback + horizon "
                         f"= {L} + {H} = {L + H}")
    a, b = split.train
    if b - a < L + H:
        raise ValueError(f"the training split has {b - a} rows (split {split.train}); it needs "
                         f"at least lookback + horizon = {L + H}; lower --lookback/--horizon or "
                         "give more rows to training with --split")
    for part in ("val", "test"):
        s, e = getattr(split, part)
        if 0 < e - s < H:
            raise ValueError(f"the {part} split has {e - s} rows; it needs at least horizon = {H} "
                             "rows for one window; change --split")
    if split.test[1] - split.test[0] == 0:
        raise ValueError("the test split is empty; give it rows with --split")


def _covariates(ts: TimeSeries, spec: DataSpec):
    if not spec.calendar:
        return None, []
    if not ts.has_dates:
        raise ValueError("calendar covariates need a time column of dates; pass --time-col or "
                         "leave out --calendar")
    step = np.timedelta64(int(spec.step), "s") if spec.step else None
    return calendar_features(ts.times, step)


def prepare(csv, *, lookback: int, horizon: int, time_col: str | None = None, target="all",
            features="all", split="0.7,0.1,0.2", fill: str | None = None,
            calendar: bool = False, period: int | None = None) -> Prepared:
    """Read, validate and standardise ``csv`` for training; see the module docstring."""
    L, H = _positive("lookback", lookback), _positive("horizon", horizon)
    if period is not None and not 1 <= period <= L:
        raise ValueError(f"period must lie in [1, lookback={L}] (seasonal naive looks one "
                         f"season back inside the look-back), got {period}")
    ts = read_timeseries(csv, time_col=time_col, target=target, features=features, fill=fill)
    spl = chronological_split(len(ts), split)
    _check_rows(ts, spl, L, H)
    a, b = spl.train
    scaler = StandardScaler(ts.columns).fit(ts.values[a:b])
    step = None
    if ts.times is not None and len(ts) > 1:
        s = infer_step(ts.times)
        step = float(s.astype("timedelta64[s]").astype(np.int64)) if ts.has_dates else float(s)
    spec = DataSpec(lookback=L, horizon=H, time_col=time_col, target=list(ts.target),
                    features=list(ts.columns), split=split if isinstance(split, str) else
                    ",".join(f"{x:g}" for x in split), fill=fill, calendar=calendar, step=step,
                    scaler=scaler.to_dict())
    cov, spec.calendar_names = _covariates(ts, spec)
    train_targets = ts.values[a:b][:, spec.target_index]
    if period is None and ts.has_dates:  # the timestamps' frequency says it (24 hourly, ...)
        from .panel import frequency, period_from_freq

        period = period_from_freq(frequency(ts.times[a:b]))
        period = period if period and 2 <= period <= L else None
    spec.period = period if period is not None else detect_period(
        scaler.transform(train_targets, spec.target_index), max_period=L)
    spec.mase_scale = mase_scale(train_targets, spec.period or 1).tolist()
    prepared = Prepared(spec, ts, spl, scaler, scaler.transform(ts.values), cov)
    x, _, y = prepared.windows("train").arrays()
    tgt = spec.target_index
    spec.linear = LinearBaseline().fit(x[..., tgt].numpy(), y.numpy()).to_dict()
    return prepared


def prepare_like(csv, spec: DataSpec, *, need_rows: bool = True) -> Prepared:
    """Read ``csv`` the way ``spec`` says (same columns, fill, scaler, covariates, split)."""
    ts = read_timeseries(csv, time_col=spec.time_col, target=spec.target,
                         features=spec.features, fill=spec.fill, allow_constant=True,
                         missing_hint="train the model with --fill "
                                      "ffill|bfill|interpolate|zero (this one refuses them)")
    missing = [c for c in spec.features if c not in ts.columns]
    if missing:
        raise ValueError(f"{csv} lacks the model's input column(s) {', '.join(missing)}")
    if ts.columns != spec.features:  # the same columns in another order: the model's order
        order = [ts.columns.index(c) for c in spec.features]
        ts.values, ts.columns = ts.values[:, order], list(spec.features)
    if len(ts) < spec.lookback:
        raise ValueError(f"{ts.source} has {len(ts)} rows; the model needs at least lookback = "
                         f"{spec.lookback} rows of history")
    spl = chronological_split(len(ts), spec.split)
    if need_rows:
        _check_rows(ts, spl, spec.lookback, spec.horizon)
    scaler = StandardScaler.from_dict(spec.scaler)
    cov, _ = _covariates(ts, spec)
    return Prepared(spec, ts, spl, scaler, scaler.transform(ts.values), cov)
