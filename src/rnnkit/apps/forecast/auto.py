"""Many series, one global recurrent model, and ``--mode auto``: never silently worse than the
simple methods.

``train_panel`` (``rnnkit forecast train`` in modes ``auto`` and ``rnn``):

1. the series (``panel.read_panel``) are cut per series into history | validation | test:
   the test part is the last ``test_horizons * H`` steps (scored at the end, never seen by any
   choice), validation the ``val_windows`` horizons before it;
2. the look-back ``L`` and the model size follow the data: ``L`` from the period and horizon
   (shorter when the series are short), the hidden size shrinks with the number of windows;
3. the transform (log or none) is chosen on the validation cut with the closed-form linear
   model (log only for positive series): multiplicative trend and seasonality become additive;
4. one global ``Forecaster`` is trained with ``rnnkit.fit`` on windows drawn from every series
   (per-window level and scale normalisation, ``methods.Windowing``), early stopping on the
   validation windows;
5. every method (``rnn``, ``linear``, ``ets``, ``theta``, ``snaive``) forecasts each validation
   window; combinations are candidates too: the mean of the best k methods (k = 2..n) and
   the median of the best k (k = 3..n), ranked by mean validation MASE. The candidate with the
   lowest mean validation MASE over all series is the default for every series: one choice
   from thousands of windows, where a choice per series rests on one or two of its own.
   Per-series switching (a series takes its own best where that is at least
   ``switch_margin`` better on its own windows) is used only where it validates: choosing
   per series on each series' earlier validation windows must beat the common choice on
   its last window, which those earlier windows do not overlap (needs ``val_windows >= 2``),
   by more than two standard errors of the per-series differences (MASE is heavy-tailed
   across series: a mean gain from a few series is noise).
   The choice and the reason are stored per series, the switching verdict once;
6. with ``config.refit`` the network is trained again, from the same seed(s), on every
   window up to the test part (the validation windows, the most recent steps, included) for
   the epochs early stopping chose in step 4; nothing chosen in step 5 changes;
7. the test part is forecast by every method (ETS/Theta and the linear model refitted on the
   history up to it, the network refitted with ``refit``) and scored: sMAPE, MASE, MAE,
   RMSE per method, overall and per series.

Nothing is written until the end: one ``rnnkit.save`` of the network with every choice in its
extras, then the training history beside it (``fit`` runs without a checkpoint folder, so a
many-series run has no ``resume``).
"""

from __future__ import annotations

import importlib.util
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ...checkpoint import json_safe, load, load_extras, save, writing
from ...data.timeseries import calendar_features
from ...metrics import flat_history, mae, rmse, series_scale, smape
from ...models.forecaster import Forecaster
from ...training.averaging import WeightAverage
from .ensemble import ForecasterEnsemble
from .methods import CLASSICAL, LinearMap, Windowing, seasonal_naive, statsforecast_methods
from .panel import Panel, _names, future_index, read_panel

__all__ = ["METHODS", "PanelState", "train_panel", "forecast_panel", "evaluate_panel",
           "forecast_methods", "combinations", "parts_of", "is_combination",
           "score", "choose_lookback", "panel_metrics", "member_lookbacks", "epochs_run"]

METHODS = ("rnn", "linear", "ets", "theta", "snaive")
HORIZON_BY_PERIOD = {12: 18, 4: 8, 1: 6, 7: 14, 24: 24, 52: 13, 5: 10}


# ------------------------------------------------------------------------------- state
@dataclass
class PanelState:
    """What a panel checkpoint keeps besides the network weights (JSON in its extras)."""

    windowing: dict
    horizon: int
    period: int
    freq: str | None
    step: float | None
    id_col: str | None
    time_col: str | None
    target: str
    methods: list[str]
    static: dict = field(default_factory=dict)  # column -> categories (one-hot order)
    covariates: list[str] = field(default_factory=list)
    cov_stats: list[list[float]] = field(default_factory=list)  # (mean, std) per covariate
    calendar: list[str] = field(default_factory=list)  # calendar covariate names
    linear: dict = field(default_factory=dict)
    default: str = "rnn"
    default_reason: str = ""
    choice: dict = field(default_factory=dict)  # series id -> method
    reason: dict = field(default_factory=dict)  # series id -> why
    intervals: dict = field(default_factory=dict)  # method -> scaled |error| quantile per step
    level: float = 0.8
    validation: dict = field(default_factory=dict)  # method -> mean validation MASE
    switching: bool = False  # per-series switching validated (else the default everywhere)
    switch_reason: str = ""  # why switching is on or off (the held-out check's figures)
    transform_reason: str = ""
    hidden_size: int = 0
    has_network: bool = True
    jobs: int = 1  # statsforecast processes
    refit_epochs: list = field(default_factory=list)  # config.refit: epochs of each network

    def to_dict(self) -> dict:
        from dataclasses import asdict

        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> PanelState:
        return cls(**d)

    @property
    def covariate_size(self) -> int:
        return sum(len(v) for v in self.static.values()) + len(self.covariates) + len(
            self.calendar)


def choose_lookback(period: int, horizon: int, lengths, given: int | None) -> int:
    """``given``, or max(3 periods, 2 horizons, 8), at most the typical (75th percentile)
    training length: shorter series are padded (and masked) at the front."""
    if given:
        return int(given)
    L = max(3 * period, 2 * horizon, 8)
    typical = int(np.percentile(lengths, 75)) if len(lengths) else L
    return int(max(4, min(L, typical)))


def _hidden(config_hidden: int, n_windows: int) -> int:
    """Fewer parameters for few windows: about 4 sqrt(windows), a multiple of 8, at least 8."""
    return int(max(8, min(config_hidden, 8 * round(4 * np.sqrt(max(n_windows, 1)) / 8))))


# --------------------------------------------------------------------------- covariates
def covariate_rows(state: PanelState, s, rows: int) -> np.ndarray:
    """(rows, K) covariates of series ``s`` for its steps 0..rows-1 (past and known future)."""
    parts = []
    for col, cats in state.static.items():
        one = np.zeros((rows, len(cats)))
        if s.static.get(col) in cats:
            one[:, cats.index(s.static[col])] = 1.0
        parts.append(one)
    for j, col in enumerate(state.covariates):
        v = s.future.get(col)
        if v is None or len(v) < rows:
            known = 0 if v is None else len(v)
            raise ValueError(f"series {s.id!r}: covariate {col!r} is known for {known} steps; "
                             f"the forecast needs {rows} (add rows for the horizon with an "
                             "empty target)")
        mean, std = state.cov_stats[j]
        parts.append(((v[:rows] - mean) / std)[:, None])
    if state.calendar:
        times = s.times
        if rows > len(times):
            times = np.concatenate([times, future_index(times[-1], state.freq, state.step,
                                                        rows - len(times))])
        cal, _ = calendar_features(np.asarray(times[:rows], dtype="datetime64[s]"))
        parts.append(cal)
    return np.concatenate(parts, 1) if parts else np.zeros((rows, 0))


def _network_inputs(win: Windowing, state: PanelState, series, origins):
    """x (N, L, 2 + K), future covariates (N, H, K) or None, target (N, H, 1) or None,
    level, scale, owner: the global model's windows at ``origins`` (per series)."""
    hist = [s.y for s in series]
    need_targets = all(len(o) == 0 or o.max() + win.H <= len(s) for s, o in zip(
        series, origins, strict=True))
    x, mask, level, scale, y, owner = win.batch(hist, origins, with_targets=need_targets)
    inputs = np.stack([x, mask], -1)
    K = state.covariate_size
    fc = None
    if K:
        past, fut = [], []
        for s, o in zip(series, origins, strict=True):
            if not len(o):
                continue
            cov = covariate_rows(state, s, int(o.max()) + win.H)
            padded = np.concatenate([np.repeat(cov[:1], win.L, 0), cov], 0)
            for t in o:
                past.append(padded[t:t + win.L])
                fut.append(padded[t + win.L:t + win.L + win.H])
        inputs = np.concatenate([inputs, np.stack(past)], -1)
        fc = torch.as_tensor(np.stack(fut), dtype=torch.float32)
    tx = torch.as_tensor(inputs, dtype=torch.float32)
    ty = None if y is None else torch.as_tensor(y[..., None], dtype=torch.float32)
    return tx, fc, ty, level, scale, owner


# ----------------------------------------------------------------------------- methods
def _method_forecasts(methods, state: PanelState, win: Windowing, model, series, origins,
                      linear: LinearMap | None) -> dict[str, np.ndarray]:
    """``{method: (S, H)}``: each method's forecast of each series from ``origins[i]``."""
    H, m = win.H, state.period
    hist = [s.y[:t] for s, t in zip(series, origins, strict=True)]
    out: dict[str, np.ndarray] = {}
    if "snaive" in methods:
        out["snaive"] = np.stack([seasonal_naive(h, H, m) for h in hist])
    wins = [np.asarray([t]) for t in origins]
    if "linear" in methods and linear is not None:
        x, mask, level, scale, _, _ = win.batch(hist, wins, with_targets=False)
        out["linear"] = win.back(linear.predict(x, mask), level, scale)
    if "rnn" in methods and model is not None:
        tx, fc, _, level, scale, _ = _network_inputs(win, state, series, wins)
        device = next(model.parameters()).device  # where load (or training) put it
        with torch.no_grad():
            model.eval()
            z = model.forecast(tx.to(device), None if fc is None else fc.to(device)
                               ).point[..., 0].cpu().numpy()
        out["rnn"] = win.back(z.astype(np.float64), level, scale)
    classical = [c for c in CLASSICAL if c in methods]
    if classical:
        out.update(statsforecast_methods(hist, H, m, classical, state.jobs))
    return out


def parts_of(name: str) -> list[str]:
    """The methods in a method or combination name: ``mean(ets+theta)`` -> ``[ets, theta]``."""
    return name[name.index("(") + 1:-1].split("+") if is_combination(name) else [name]


def is_combination(name: str) -> bool:
    return name.endswith(")") and name.split("(")[0] in ("mean", "median")


def combinations(ranked: list[str]) -> list[str]:
    """The combinations weighed beside the single methods, from the methods ranked best first
    on validation: the mean of the best k (k = 2..n) and the median of the best k (k = 3..n)."""
    top = [sorted(ranked[:k]) for k in range(2, len(ranked) + 1)]
    return ([f"mean({'+'.join(t)})" for t in top]
            + [f"median({'+'.join(t)})" for t in top if len(t) >= 3])


def _with_combos(forecasts: dict[str, np.ndarray], combos) -> dict[str, np.ndarray]:
    out = dict(forecasts)
    for name in combos:
        how = np.median if name.startswith("median(") else np.mean
        out[name] = how([forecasts[p] for p in parts_of(name)], axis=0)
    return out


def score(actual: np.ndarray, forecast: np.ndarray, scales: np.ndarray,
          flat: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Per-series sMAPE, MASE, MAE, RMSE (each (S,)) of (S, H) forecasts (``rnnkit.metrics``);
    MASE is NaN where ``flat`` (a flat history: undefined, left out of every mean)."""
    per_mae = mae(actual, forecast, axis=1)
    mase = per_mae / scales
    if flat is not None:
        mase = np.where(flat, np.nan, mase)
    return {"sMAPE": smape(actual, forecast, axis=1), "MASE": mase, "MAE": per_mae,
            "RMSE": rmse(actual, forecast, axis=1)}


def mase_scales(series, origins, period: int) -> tuple[np.ndarray, np.ndarray]:
    """Each series' MASE scale at its origin (S,), and whether its history there is flat."""
    pairs = list(zip(series, origins, strict=True))
    return (np.asarray([series_scale(s.y[:t], period) for s, t in pairs]),
            np.asarray([flat_history(s.y[:t], period) for s, t in pairs], dtype=bool))


# ------------------------------------------------------------------------------ choice
def _row_means(m: np.ndarray) -> np.ndarray:
    """(S, W) scores with NaN where a series has no such window -> per-series means (S,)."""
    ok = np.isfinite(m)
    n = ok.sum(1)
    return np.where(n > 0, np.where(ok, m, 0.0).sum(1) / np.maximum(n, 1), np.nan)


def _mean(v: np.ndarray) -> float:
    v = v[np.isfinite(v)]
    return float(v.mean()) if len(v) else float("inf")


def _score_text(v: float) -> str:
    return f"{v:.3f}" if np.isfinite(v) else "no finite score"


def _best(scores: dict[str, float]) -> str:
    return min(scores, key=scores.get)


def _own_best(own: dict[str, float], default: str, margin: float) -> str:
    """A series' own best where it beats the default by ``margin``, else the default."""
    own = {k: v for k, v in own.items() if np.isfinite(v)}
    if not own or default not in own:
        return default
    best = _best(own)
    return best if margin < 1 and own[best] < (1 - margin) * own[default] else default


def _switch_check(mase: dict[str, np.ndarray], origins: list[list[int]], H: int,
                  margin: float) -> tuple[bool, str]:
    """Whether choosing per series beats one choice for all, on held-out windows: both
    choose on each series' validation windows that end before its last one begins, and are
    scored on that last window."""
    if margin >= 1:
        return False, "per-series switching off (switch_margin 1)"
    rows, early_cols, last_cols = [], [], []
    for i, o in enumerate(origins):
        early = [j for j, t in enumerate(o) if t + H <= o[-1]] if o else []
        if early:
            rows.append(i)
            early_cols.append(early)
            last_cols.append(len(o) - 1)
    if not rows:
        return False, ("per-series switching off: checking it needs two validation windows "
                       "that do not overlap (val_windows >= 2)")
    early = {k: np.asarray([_mean(m[i, c]) for i, c in zip(rows, early_cols, strict=True)])
             for k, m in mase.items()}
    held = {k: m[rows, last_cols] for k, m in mase.items()}
    common = _best({k: _mean(v) for k, v in early.items()})
    picks = [_own_best({k: v[r] for k, v in early.items()}, common, margin)
             for r in range(len(rows))]
    mine = np.asarray([held[p][r] for r, p in enumerate(picks)])
    theirs = held[common]
    ok = np.isfinite(mine) & np.isfinite(theirs)
    d = mine[ok] - theirs[ok]  # per series: switched minus common, on the held-out window
    if len(d) < 2:  # a standard error needs two differences (one: an infinite interval)
        return False, ("per-series switching off: it is checked across series, and only "
                       f"{len(d)} series {'has' if len(d) == 1 else 'have'} held-out "
                       "validation windows to check it on" if len(origins) > 1 else
                       "per-series switching off: there is one series, so the default is "
                       "already its own best")
    a, b = float(mine[ok].mean()), float(theirs[ok].mean())
    two_se = 2 * float(d.std(ddof=1)) / np.sqrt(len(d))
    on = bool(float(d.mean()) + two_se < 0)
    moved = sum(p != common for p in picks)
    gap = (f"{b - a:.3f} better" if a < b else f"{a - b:.3f} worse" if a > b else "no better")
    verdict = (f"more than the {two_se:.3f} it has to beat (two standard errors)" if on else
               f"and switching is used only when it is better by more than {two_se:.3f} "
               "(two standard errors)")
    return on, (f"per-series switching {'on' if on else 'off'}: letting each series pick its "
                f"own method on the earlier validation windows ({moved} of {len(rows)} series "
                f"changed) scored a mean MASE of {a:.3f} on the last window, against {b:.3f} "
                f"with one method for all, {common}; that is {gap}, {verdict}")


def _choose(mase: dict[str, np.ndarray], ids: list[str], margin: float, switching: bool):
    """Default candidate (lowest mean validation MASE over all series) and per-series
    choices with reasons; a series leaves the default only when ``switching``."""
    val = {k: _row_means(m) for k, m in mase.items()}
    means = {k: _mean(v) for k, v in val.items()}
    ranked = sorted(means, key=means.get)
    default = ranked[0]
    runner = ranked[1] if len(ranked) > 1 else None
    why = (f"lowest mean validation MASE over {len(ids)} series, {means[default]:.3f}"
           + (f"; next best {runner}, {_score_text(means[runner])}" if runner else ""))
    choice, reason = {}, {}
    for i, sid in enumerate(ids):
        own = {k: v[i] for k, v in val.items() if np.isfinite(v[i])}
        if not own:
            choice[sid], reason[sid] = default, ("the default: no validation MASE, a short "
                                                 "series or a flat history")
            continue
        best = _own_best(own, default, margin) if switching else default
        if best != default:
            choice[sid] = best
            reason[sid] = (f"its validation MASE {own[best]:.3f} vs {own[default]:.3f} for the "
                           f"default {default}")
        else:  # why the default: state.default_reason, said once
            choice[sid], reason[sid] = default, "the default"
    stored = {k: round(v, 6) if np.isfinite(v) else None for k, v in means.items()}  # JSON
    return default, why, choice, reason, stored


def _interval_quantiles(val_abs: dict[str, np.ndarray], level: float) -> dict[str, list]:
    """Per method, per step: the ``level`` quantile of |error| / MASE scale on validation."""
    out = {}
    for k, e in val_abs.items():  # e: (N, H) scaled absolute errors
        e = e[np.isfinite(e).all(1)]
        if not len(e):
            continue
        q = np.quantile(e, level, axis=0) if len(e) >= 20 else np.full(
            e.shape[1], np.quantile(e, level))
        out[k] = np.maximum.accumulate(q).tolist()
    return out


# ------------------------------------------------------------------------------- train
@dataclass
class _Cut:
    """Per series: where the test part starts and the validation origins before it."""

    test: list[int]
    val: list[list[int]]  # per series, the validation origins (oldest first)

    def first_val(self, i: int) -> int:
        return self.val[i][0] if self.val[i] else self.test[i]


def _cuts(series, H: int, test_horizons: int, val_windows: int, min_history: int) -> _Cut:
    """The validation part is the ``val_windows * H`` steps before the test part; with two
    horizons or more it is scored from rolling origins ``H // 4`` apart (more, overlapping
    windows: a steadier choice on short series), else from its one origin."""
    tests = [len(s) - test_horizons * H for s in series]
    stride = max(1, H // 4) if val_windows > 1 else H
    vals = []
    for t in tests:
        origins = sorted(set(range(t - val_windows * H, t - H + 1, stride)) | {t - H}) \
            if val_windows else []
        vals.append([o for o in origins if o >= min_history])
    return _Cut(tests, vals)


def _drop_short(panel: Panel, need: int, H: int, warn) -> None:
    short = [s.id for s in panel.series if len(s) < need]
    if not short:
        return
    line = (f"skipped {len(short)} series shorter than {need} steps (the test part + 2, "
            f"horizon {H}): {_names(short)}")
    panel.series = [s for s in panel.series if len(s) >= need]
    if not panel.series:
        raise ValueError(f"no series can be forecast: all {len(short)} are shorter than {need} "
                         f"steps (the test part of {need - 2} + 2); lower --horizon or "
                         "--test-horizons")
    panel.warnings.append(line)
    warn(line)


def _state_for(panel: Panel, config, H: int, L: int, log: bool, cut: _Cut) -> PanelState:
    static = {c: sorted({s.static[c] for s in panel.series}) for c in
              ([x.strip() for x in config.static.split(",")] if config.static else [])}
    covs = [x.strip() for x in config.covariates.split(",")] if config.covariates else []
    stats = []
    for c in covs:
        v = np.concatenate([s.future[c][:cut.first_val(i)] for i, s in enumerate(panel.series)])
        stats.append([float(v.mean()), float(max(v.std(), 1e-9))])
    calendar = []
    if config.calendar:
        if panel.freq is None:
            raise ValueError("calendar: calendar covariates need a time column of dates")
        s0 = panel.series[0]
        calendar = calendar_features(np.asarray(s0.times[:2], "datetime64[s]"))[1] if len(
            s0) > 1 else []
    methods = ["rnn"] if config.mode == "rnn" else [
        m.strip() for m in config.methods.split(",") if m.strip()]
    return PanelState(windowing=Windowing(L, H, panel.period, log).to_dict(), horizon=H,
                      period=panel.period, freq=panel.freq, step=panel.step,
                      id_col=panel.id_col, time_col=panel.time_col, target=panel.target,
                      methods=methods, static=static, covariates=covs, cov_stats=stats,
                      calendar=list(calendar), level=0.8, jobs=config.jobs)


def _drop_global_without_windows(state: PanelState, win: Windowing, series, cut: _Cut,
                                 min_history: int, warn) -> None:
    """The global models (rnn, linear) need a training window before the validation part;
    without one they are left out (said once), and no method left is an error."""
    n = sum(len(win.train_origins(len(s), cut.first_val(i), min_history)) for i, s in
            enumerate(series))
    if n:
        return
    dropped = [m for m in ("rnn", "linear") if m in state.methods]
    state.methods = [m for m in state.methods if m not in dropped]
    if not state.methods:
        raise ValueError(f"no method can be fitted: the series leave no training window "
                         f"before the validation and test parts (horizon {win.H}); lower "
                         "--horizon or --val-windows, or add ets, theta or snaive to --methods")
    if dropped:
        warn(f"left out {', '.join(dropped)}: no training window before the validation part "
             f"(horizon {win.H})")


def _fit_linear(win: Windowing, series, ends, min_history: int) -> LinearMap | None:
    hist = [s.y for s in series]
    origins = [win.train_origins(len(s), e, min_history) for s, e in zip(series, ends,
                                                                           strict=True)]
    x, mask, _, _, y, _ = win.batch(hist, origins)
    return LinearMap().fit(x, mask, y) if len(x) else None


def _choose_transform(config, panel: Panel, L: int, H: int, cut: _Cut, min_history: int):
    """log or none (config.transform, or the one with the lower validation MASE of the
    linear model when ``auto`` and every series is positive)."""
    positive = all(float(s.y.min()) > 0 for s in panel.series)
    if config.transform == "log" and not positive:
        raise ValueError("transform: log needs positive series; use auto or none")
    if config.transform != "auto":
        return config.transform == "log", f"transform {config.transform} (given)"
    if not positive:
        return False, "no transform (some values are <= 0)"
    have = [i for i in range(len(panel.series)) if cut.val[i]]
    if not have:
        return True, "log (positive series; no validation window to compare)"
    err = {}
    for log in (False, True):
        win = Windowing(L, H, panel.period, log)
        lin = _fit_linear(win, panel.series, [cut.first_val(i) for i in range(len(
            panel.series))], min_history)
        if lin is None:
            return log, "log (positive series; too few windows to compare)"
        ser = [panel.series[i] for i in have]
        origins = [cut.val[i][0] for i in have]
        x, mask, lv, sc, _, _ = win.batch([s.y for s in ser], [np.asarray([t]) for t in origins],
                                          with_targets=False)
        f = win.back(lin.predict(x, mask), lv, sc)
        act = np.stack([s.y[t:t + H] for s, t in zip(ser, origins, strict=True)])
        scales, flat = mase_scales(ser, origins, panel.period)
        err[log] = _mean(score(act, f, scales, flat)["MASE"])
    log = err[True] < err[False]
    return log, (f"{'log' if log else 'no transform'}: validation MASE of the linear model "
                 f"{err[log]:.3f} vs {err[not log]:.3f} {'without' if log else 'with'} the log")


WINDOW_WEIGHTS = ("none", "relative")
WEIGHT_CAP = 10.0  # window_weight relative: at most this many times the median weight


def _weighted_targets(config, win: Windowing, ty, level, scale):
    """``config.window_weight`` "relative": the targets (N, H, 1) get a second channel, each
    window's weight in the loss, ``scale / |level|`` (with the log: ``scale``), the size of a
    normalised error relative to the series' level, so the loss follows sMAPE (errors
    relative to the level) instead of errors in steps; capped at ``WEIGHT_CAP`` times the
    median weight, then divided by the mean. "none": the targets unchanged."""
    if config.window_weight == "none" or ty is None or not len(ty):
        return ty
    w = np.asarray(scale) if win.log else np.asarray(scale) / np.maximum(np.abs(level), 1e-9)
    w = np.minimum(w / max(float(np.median(w)), 1e-12), WEIGHT_CAP)
    w = torch.as_tensor(w / w.mean(), dtype=ty.dtype)[:, None, None].expand_as(ty)
    return torch.cat([ty, w], -1)


def _window_loss(config, model):
    """The training loss: the model's own, or (``window_weight``) its per-element loss on the
    first target channel times the window weight in the second."""
    if config.window_weight == "none":
        return model.loss
    per = {"mse": lambda d: d * d, "mae": torch.abs,
           "huber": lambda d: torch.nn.functional.huber_loss(d, torch.zeros_like(d),
                                                             reduction="none")}
    err = per[config.point_loss]

    def weighted(pred, target):
        return (err(pred - target[..., :1]) * target[..., 1:]).mean()
    return weighted


def _windows(config, state: PanelState, win: Windowing, series, ends, min_history: int,
             batch: int | None = None):
    """The network's training windows (targets before ``ends[i]`` in series i): x, future
    covariates or None, targets, the number of distinct windows, the batch size. Few windows
    (one short series): smaller batches, repeated so an epoch has >= 20 steps."""
    origins = [win.train_origins(len(s), e, min_history, config.max_windows)
               for s, e in zip(series, ends, strict=True)]
    tx, fc, ty, level, scale, _ = _network_inputs(win, state, series, origins)
    ty = _weighted_targets(config, win, ty, level, scale)
    n = len(tx)
    if not n:
        raise ValueError("no training window: the series are too short for the horizon; "
                         "lower --horizon or --val-windows")
    batch = batch or min(config.batch_size, max(8, n // 16))
    reps = -(-20 * batch // n)
    if reps > 1:
        tx, ty = tx.repeat(reps, 1, 1), ty.repeat(reps, 1, 1)
        fc = None if fc is None else fc.repeat(reps, 1, 1)
    return tx, fc, ty, n, batch


def _fit_member(config, state: PanelState, win: Windowing, k: int, L_k: int, data, val, batch,
                *, stop_after: int | None = None, device, quiet):
    """Network ``k`` (seed ``config.seed + 100 k``, look-back ``L_k``) trained by ``fit``:
    early stopping on ``val`` when given; ``stop_after`` epochs when given (the schedule still
    spans ``config.epochs``, as in the run that chose them)."""
    from ...train import fit

    tx, fc, ty = data
    seed = config.seed + 100 * k
    torch.manual_seed(seed)
    model = Forecaster(2, L_k, win.H, cell=config.cell, hidden_size=state.hidden_size,
                       num_layers=config.num_layers, mode="direct", target_index=[0],
                       covariate_size=state.covariate_size, dropout=config.dropout,
                       norm="none", point_loss=config.point_loss)
    x_k = tx[:, win.L - L_k:]  # a shorter look-back: the last L_k steps of the windows
    val_k = None
    if val is not None:
        (vx, vfc), vy = val
        val_k = ((vx[:, win.L - L_k:], vfc) if vfc is not None else vx[:, win.L - L_k:], vy)
    callbacks = [] if stop_after is None else [
        lambda event, info: event == "epoch_end" and info["epoch"] >= stop_after]
    if config.ema:  # validate, keep and forecast with the moving average of the weights
        callbacks.insert(0, WeightAverage(model, config.ema, -(-len(x_k) // batch),
                                          stop_after or config.epochs))
    h = fit(model, ((x_k, fc) if fc is not None else x_k, ty), val_data=val_k,
            epochs=config.epochs, batch_size=batch, loss=_window_loss(config, model),
            lr=config.lr, weight_decay=config.weight_decay, schedule=config.schedule,
            clip_norm=config.clip_norm,
            **(config.stopping(val_k is not None) if stop_after is None else {}),
            seed=seed, device=device, progress=not quiet, time_budget=config.time_budget,
            callbacks=callbacks)
    return model.cpu().eval(), h


def _train_network(config, state: PanelState, win: Windowing, series, cut: _Cut,
                   min_history: int, lookbacks: list[int], *, device, quiet):
    """The global network, trained in memory (the best epoch's weights restored): the
    checkpoint is written once, by ``train_panel``, with every choice in it. With
    ``config.ensemble`` K > 1: K networks (seeds ``seed + 100 k``, look-backs ``lookbacks``),
    each its own ``fit`` with early stopping, combined in a ``ForecasterEnsemble``; the
    history's rows carry their ``member``. Returns (model, history, windows, batch, the best
    epoch of each network)."""
    from ...train import History

    tx, fc, ty, n, batch = _windows(config, state, win, series,
                                    [cut.first_val(i) for i in range(len(series))], min_history)
    vi = [np.asarray(v, np.int64) for v in cut.val]
    vx, vfc, vy, vlevel, vscale, _ = _network_inputs(win, state, series, vi)
    vy = _weighted_targets(config, win, vy, vlevel, vscale)
    state.hidden_size = _hidden(config.hidden_size, n)
    val = None if not len(vx) else ((vx, vfc), vy)
    members, history, best = [], History(), []
    for k, L_k in enumerate(lookbacks):
        model, h = _fit_member(config, state, win, k, L_k, (tx, fc, ty), val, batch,
                               device=device, quiet=quiet)
        members.append(model)
        best.append(h.best_epoch or len(h.rows))
        if config.ensemble == 1:
            return model, h, n, batch, best
        history.rows += [{"member": k, **row} for row in h.rows]
        history.grad_norms += h.grad_norms
        history.stop_reason, history.best_epoch = h.stop_reason, h.best_epoch
    return ForecasterEnsemble.of(members, config.ensemble_combine).eval(), history, n, batch, best


def _refit_network(config, state: PanelState, win: Windowing, series, cut: _Cut,
                   min_history: int, lookbacks: list[int], best: list[int], batch: int, history,
                   *, device, quiet):
    """``config.refit``: each network trained again from its seed on every window whose
    target ends before the test part (the validation windows included: the most recent
    steps, which the validated network never learnt from), for the epochs early stopping
    chose on validation (``best``), batch size and schedule as in that run; no validation,
    the last epoch's weights kept. Every choice was made on validation before this; the
    refitted network forecasts the test part and is the one saved. Its rows join ``history``
    marked ``refit``."""
    tx, fc, ty, _, _ = _windows(config, state, win, series, cut.test, min_history, batch)
    members = []
    for k, L_k in enumerate(lookbacks):
        model, h = _fit_member(config, state, win, k, L_k, (tx, fc, ty), None, batch,
                               stop_after=best[k], device=device, quiet=quiet)
        members.append(model)
        history.rows += [{**({"member": k} if config.ensemble > 1 else {}), "refit": True,
                          **row} for row in h.rows]
        history.grad_norms += h.grad_norms
    if config.ensemble == 1:
        return members[0]
    return ForecasterEnsemble.of(members, config.ensemble_combine).eval()


def epochs_run(history) -> list[int]:
    """Epochs each network trained (one entry per ensemble member)."""
    per: dict = {}
    for row in (r for r in history.rows if not r.get("refit")):
        per[row.get("member", 0)] = per.get(row.get("member", 0), 0) + 1
    return list(per.values()) or [0]


def member_lookbacks(config, L: int) -> list[int]:
    """The look-back of each of the ``config.ensemble`` networks: the chosen ``L`` times the
    multiples ``config.ensemble_lookbacks`` cycled over the members (all ``L`` without them).
    The windows carry the longest; a member reads its last ``L_k`` steps."""
    factors = config.lookback_factors()
    return [max(4, round(f * L)) for f in (factors * config.ensemble)[:config.ensemble]]


def _validate(state: PanelState, win: Windowing, model, series, cut: _Cut, min_history: int,
              margin: float) -> dict[str, np.ndarray]:
    """Every method and combination on every validation window; sets the default, the
    switching verdict, the choices, reasons and intervals. Like ETS and Theta, the closed-form
    linear model is refitted at each validation origin (on the windows before it); the network
    is trained once, before the first."""
    S, H, singles = len(series), win.H, list(state.methods)
    W = max((len(v) for v in cut.val), default=0)
    per_slot: list[tuple[list[int], dict, np.ndarray, np.ndarray]] = []
    for slot in range(W):
        idx = [i for i in range(S) if len(cut.val[i]) > slot]
        ser = [series[i] for i in idx]
        origins = [cut.val[i][slot] for i in idx]
        ends = [cut.val[i][slot] if len(cut.val[i]) > slot else cut.first_val(i)
                for i in range(S)]
        linear = _fit_linear(win, series, ends, min_history) if "linear" in singles else None
        f = _method_forecasts(singles, state, win, model, ser, origins, linear)
        act = np.stack([s.y[t:t + H] for s, t in zip(ser, origins, strict=True)])
        per_slot.append((idx, f, act, *mase_scales(ser, origins, state.period)))
    if per_slot and all(slot[4].all() for slot in per_slot):  # nothing left to rank by
        per_slot = [(*slot[:4], ~slot[4]) for slot in per_slot]  # so: the floored scales
    ids = [s.id for s in series]
    if not per_slot:
        state.default, state.default_reason = singles[0], "no validation windows: the first method"
        state.choice = {sid: state.default for sid in ids}
        state.reason = {sid: state.default_reason for sid in ids}
        return {}
    mase = {}  # candidate -> (S, W) validation MASE, NaN where a series has no such window
    for k in singles:
        mase[k] = np.full((S, W), np.nan)
        for slot, (idx, f, act, scales, flat) in enumerate(per_slot):
            mase[k][idx, slot] = score(act, f[k], scales, flat)["MASE"]
    ranked = sorted(singles, key=lambda k: _mean(_row_means(mase[k])))
    combos = combinations(ranked)
    for name in combos:
        mase[name] = np.full((S, W), np.nan)
        for slot, (idx, f, act, scales, flat) in enumerate(per_slot):
            mase[name][idx, slot] = score(act, _with_combos(f, [name])[name], scales,
                                          flat)["MASE"]
    state.switching, state.switch_reason = _switch_check(mase, cut.val, H, margin)
    (state.default, state.default_reason, state.choice, state.reason,
     state.validation) = _choose(mase, ids, margin, state.switching)
    abs_err = {k: [] for k in mase}
    for _idx, f, act, scales, flat in per_slot:
        f = _with_combos(f, combos)
        for k in mase:  # flat histories' errors over a ~0 scale would widen every interval
            abs_err[k].append((np.abs(f[k] - act) / scales[:, None])[~flat])
    state.intervals = _interval_quantiles({k: np.concatenate(v) for k, v in abs_err.items()},
                                          state.level)
    return {k: _row_means(m) for k, m in mase.items()}


def _needed(state: PanelState, chosen) -> list[str]:
    need = set()
    for c in chosen:
        need.update(parts_of(c))
    return [m for m in METHODS if m in need]


def forecast_methods(state: PanelState, model, series, origins, methods):
    """(every method's (S, H) forecasts incl. combos, the MASE scales (S,))."""
    win = Windowing.from_dict(state.windowing)
    linear = LinearMap.from_dict(state.linear) if state.linear else None
    singles = _needed(state, methods)
    if win.log and {"linear", "rnn"} & set(singles):  # they work on log values: NaN for <= 0
        for s, t in zip(series, origins, strict=True):
            low = float(np.min(s.y[:t])) if t else 1.0
            if low <= 0:
                raise ValueError(f"series {s.id!r} has a value <= 0 ({low:g}), but this model "
                                 "forecasts on the log scale (every training series was "
                                 "positive); retrain with --transform none")
    f = _method_forecasts(singles, state, win, model, series, origins, linear)
    f = _with_combos(f, [c for c in methods if is_combination(c)])
    return f, mase_scales(series, origins, state.period)[0]


def _auto_of(state: PanelState, series, forecasts) -> np.ndarray:
    return np.stack([forecasts[state.choice.get(s.id, state.default)][i] for i, s in
                     enumerate(series)])


def panel_metrics(actual, forecasts: dict[str, np.ndarray], scales, ids,
                  flat: np.ndarray | None = None) -> dict:
    """``{"overall": {method: metrics}, "per_series": {id: {method: metrics}}}``: sMAPE and
    MASE averaged over series (MASE over those whose history is not ``flat``: NaN where
    none is), MAE and RMSE over all forecast steps."""
    overall, per_series = {}, {sid: {} for sid in ids}
    for k, f in forecasts.items():
        s = score(actual, f, scales, flat)
        err = f - actual
        finite = s["MASE"][np.isfinite(s["MASE"])]
        overall[k] = {"sMAPE": float(np.mean(s["sMAPE"])),
                      "MASE": float(finite.mean()) if len(finite) else float("nan"),
                      "MAE": float(np.mean(np.abs(err))),
                      "RMSE": float(np.sqrt(np.mean(err ** 2)))}
        for sid in per_series:  # averaged over the series' windows
            rows = [i for i, x in enumerate(ids) if x == sid]
            per_series[sid][k] = {m: float(np.mean(v[rows])) for m, v in s.items()}
    return {"overall": overall, "per_series": per_series}


def _data_notes(state: PanelState, panel: Panel) -> None:
    """Say (in ``panel.warnings``) where the data are not what the model was trained on:
    another frequency, or series it never saw (they get the default method)."""
    if panel.freq and state.freq and panel.freq != state.freq:
        panel.warnings.append(f"this model was trained on {state.freq} data (period "
                              f"{state.period}, look-back {state.windowing.get('lookback')}); "
                              f"these series are {panel.freq}")
    unseen = [s.id for s in panel.series if s.id not in state.choice]
    if unseen and state.choice:
        panel.warnings.append(f"{len(unseen)} series were not seen in training; they get the "
                              f"default method {state.default}: {_names(unseen)}")


def evaluate_panel(state: PanelState, model, panel: Panel, test_horizons: int = 1) -> dict:
    """Every method and ``auto`` (each series' chosen method) on the last
    ``test_horizons`` horizons of each series, forecast from the history before them."""
    H = state.horizon
    _data_notes(state, panel)
    series = [s for s in panel.series if len(s) >= test_horizons * H + 2]
    if not series:
        raise ValueError(f"no series has the {test_horizons * H} + 2 steps an evaluation needs")
    combos = sorted({c for c in [state.default, *state.choice.values()] if is_combination(c)})
    shown = [m for m in METHODS if m in state.methods or m in _needed(state, combos)]
    shown += [m for m in ("linear", "snaive") if m not in shown]  # the cheap baselines
    if model is not None and "rnn" not in shown:
        shown.insert(0, "rnn")
    results = []
    for k in range(test_horizons, 0, -1):
        origins = [len(s) - k * H for s in series]
        f, scales = forecast_methods(state, model, series, origins, shown + combos)
        f["auto"] = _auto_of(state, series, f)
        act = np.stack([s.y[t:t + H] for s, t in zip(series, origins, strict=True)])
        results.append((act, f, scales, mase_scales(series, origins, state.period)[1]))
    act = np.concatenate([r[0] for r in results])
    scales = np.concatenate([r[2] for r in results])
    flat = np.concatenate([r[3] for r in results])
    f = {k: np.concatenate([r[1][k] for r in results]) for k in results[0][1]}
    ids = [s.id for s in series] * test_horizons
    if flat.all():  # every history flat: MASE over the floored scales (said), not none at all
        panel.warnings.append("every series' history is flat or repeats exactly (the "
                              "seasonal naive forecast has no error in it): MASE divides by a "
                              "floor (1e-3 of each series' level), read MAE and RMSE instead")
        flat = np.zeros_like(flat)
    out = panel_metrics(act, f, scales, ids, flat)
    if flat.any():  # said, as skipped series are
        names = list(dict.fromkeys(i for i, fl in zip(ids, flat, strict=True) if fl))
        panel.warnings.append(f"MASE leaves out {len(names)} series whose history is flat "
                              "or repeats exactly (the seasonal naive forecast is exact there, "
                              f"so MASE is undefined): {_names(names)}")
    out["choice"] = {s.id: state.choice.get(s.id, state.default) for s in series}
    out["reason"] = {s.id: state.reason.get(s.id, "the default (a series not seen in training)")
                     for s in series}
    out["default"] = {"method": state.default, "reason": state.default_reason,
                      "switching": state.switch_reason, "validation_MASE": state.validation}
    out["series"], out["horizon"], out["period"] = len(series), H, state.period
    return out


def forecast_panel(state: PanelState, model, panel: Panel, level: float | None = None):
    """The next ``H`` steps of every series with its chosen method, long format:
    ``id, <time>, forecast, lower, upper, method``."""
    import pandas as pd

    series = panel.series
    chosen = [state.choice.get(s.id, state.default) for s in series]
    f, scales = forecast_methods(state, model, series, [len(s) for s in series],
                                 sorted(set(chosen)))
    level = state.level if level is None else level
    if level != state.level:
        raise ValueError(f"level: this model's intervals are calibrated at {state.level:g} on "
                         f"validation; got {level:g}")
    H, rows = state.horizon, []
    _data_notes(state, panel)
    dated = bool(series) and np.issubdtype(series[0].times.dtype, np.datetime64)
    # too few rows to show a frequency (fewer than 3 per series): the one trained on
    freq = panel.freq or (state.freq if dated else None)
    if dated and freq is None:
        raise ValueError("cannot tell the time step of these dates (every series has fewer "
                         "than 3 rows, and the model was trained without dates); give more "
                         "rows per series")
    L = state.windowing.get("lookback", 0)
    short = [s.id for s in series if len(s) < L]
    if short:
        verb = "has" if len(short) == 1 else "have"
        panel.warnings.append(f"{len(short)} series {verb} fewer rows than the model's "
                              f"look-back of {L} steps; their windows are padded: "
                              f"{_names(short)}")
    for i, (s, c) in enumerate(zip(series, chosen, strict=True)):
        point = f[c][i]
        q = np.asarray(state.intervals.get(c, [np.nan] * H)) * scales[i]
        times = future_index(s.times[-1], freq, panel.step, H)
        rows.append(pd.DataFrame({"id": s.id, state.time_col or "step": times,
                                  "forecast": point, "lower": point - q, "upper": point + q,
                                  "method": c}))
    return pd.concat(rows, ignore_index=True)


def _say(quiet, log, text):
    if not quiet:
        log(text)


def train_panel(config, source, checkpoint_dir, *, device="cpu", quiet=False, log=print,
                resume=False, warn=None) -> dict:
    """Train, choose, test and save (see the module docstring); returns the state, model,
    history, the test metrics and the seconds taken. Nothing is written before the data and
    options have passed every check."""
    warn = warn or (lambda line: log(f"warning: {line}"))
    if resume:
        raise ValueError("resume: a many-series run (mode auto or rnn) is trained and saved in "
                         "one go, so there is no run to resume; train again without resume")
    wanted = [] if config.mode == "rnn" else [m.strip() for m in config.methods.split(",")]
    if set(wanted) & set(CLASSICAL) and importlib.util.find_spec("statsforecast") is None:
        # before training, not after it (the network trained, then the baselines failed)
        raise ModuleNotFoundError("the ets/theta baselines need statsforecast",
                                  name="statsforecast")
    panel = source if isinstance(source, Panel) else read_panel(
        source, id_col=config.id_col, time_col=config.time_col, target=config.target,
        static=config.static, covariates=config.covariates, fill=config.fill,
        period=config.period, warn=warn)
    for line in panel.notes:  # a column that looks like series ids or dates, not named
        log(f"note: {line}")
    H = config.horizon or HORIZON_BY_PERIOD.get(panel.period, 24)
    _drop_short(panel, config.test_horizons * H + 2, H, warn)
    m = panel.period
    min_history = max(2, min(m, 2 * H))
    cut = _cuts(panel.series, H, config.test_horizons, config.val_windows, min_history)
    longest = max(len(s) for s in panel.series)
    if config.lookback and config.lookback > longest:  # all padding; an L x L linear fit
        raise ValueError(f"lookback {config.lookback} is longer than every series (the longest "
                         f"has {longest} steps); lower --lookback")
    L = choose_lookback(m, H, [cut.first_val(i) for i in range(len(panel.series))],
                        config.lookback)
    lookbacks = member_lookbacks(config, L)
    L = max(lookbacks)  # the windows carry the longest member look-back
    log_t, why_t = _choose_transform(config, panel, L, H, cut, min_history)
    state = _state_for(panel, config, H, L, log_t, cut)
    state.transform_reason = why_t
    win = Windowing(L, H, m, log_t)
    ckpt = Path(checkpoint_dir)
    if ckpt.exists() and not ckpt.is_dir():
        raise ValueError(f"checkpoint {ckpt} exists and is not a folder")
    source_of_m = f" (from the {panel.freq} timestamps)" if panel.freq and not config.period \
        else ""
    _say(quiet, log, f"{len(panel.series)} series, period {m}{source_of_m}, horizon {H}, "
         f"look-back {L}, {why_t}" + (f" (networks' look-backs {', '.join(map(str, lookbacks))})"
                                      if len(set(lookbacks)) > 1 else ""))
    _drop_global_without_windows(state, win, panel.series, cut, min_history, warn)
    t0 = time.perf_counter()
    linear = _fit_linear(win, panel.series, [cut.first_val(i) for i in range(len(
        panel.series))], min_history) if "linear" in state.methods else None
    state.linear = linear.to_dict() if linear is not None else {}
    model, history, n_windows = None, None, 0
    if "rnn" in state.methods:
        model, history, n_windows, batch, best = _train_network(
            config, state, win, panel.series, cut, min_history, lookbacks, device=device,
            quiet=quiet)
        what = (f"{config.ensemble} networks ({config.ensemble_combine} of their forecasts), "
                if config.ensemble > 1 else "")
        _say(quiet, log, f"global {config.cell.upper()} model: {what}{n_windows} windows from "
             f"{len(panel.series)} series, hidden {state.hidden_size}, "
             f"{sum(p.numel() for p in model.parameters()):,} parameters, "
             f"{'+'.join(map(str, epochs_run(history)))} epochs")
    val = _validate(state, win, model, panel.series, cut, min_history, config.switch_margin)
    validated = model
    if model is not None and config.refit and any(cut.val):
        model = _refit_network(config, state, win, panel.series, cut, min_history, lookbacks,
                               best, batch, history, device=device, quiet=quiet)
        state.refit_epochs = best
        _say(quiet, log, f"refitted on the windows up to the test part: "
             f"{'+'.join(map(str, best))} epochs (the ones chosen on validation)")
    ends = [cut.test[i] for i in range(len(panel.series))]
    refit = _fit_linear(win, panel.series, ends, min_history) if linear is not None else None
    state.linear = refit.to_dict() if refit is not None else state.linear
    said = len(panel.warnings)
    test = evaluate_panel(state, model, panel, config.test_horizons) if \
        config.test_horizons else None
    for line in panel.warnings[said:]:  # what scoring said (flat series)
        warn(line)
    seconds = time.perf_counter() - t0
    state.has_network = model is not None
    extras = {"task": "forecast", "forecast": {
        "kind": "panel", "config": config.to_dict(), "panel": state.to_dict(),
        "train_seconds": round(seconds, 1),
        "test": None if test is None else json_safe(test["overall"])}}  # NaN: all flat
    if model is None:
        model = Forecaster(2, L, H, hidden_size=8, mode="direct", target_index=[0], norm="none")
    with writing(ckpt):
        save(model, ckpt, extras=extras)  # the one write: atomic, weights and every choice
        if history is not None:
            history.write(ckpt)  # history.csv / history.json beside it, as fit writes them
    return {"state": state, "model": model if state.has_network else None, "history": history,
            "test": test, "seconds": seconds, "checkpoint": ckpt, "panel": panel,
            "validation": val, "validated_model": validated if state.has_network else None}


def load_panel(checkpoint):
    """(state, network or None, config dict) of a panel checkpoint."""
    extras = load_extras(checkpoint)["forecast"]
    state = PanelState.from_dict(extras["panel"])
    model = load(checkpoint) if state.has_network else None
    return state, model, extras["config"]
