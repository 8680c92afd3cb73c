"""The detectors' arithmetic: fitting the models, raw scores of a stream (batch and one reading
at a time, the same numbers), and scores of whole sequences.

A stream is scored from its first reading with the recurrent state carried forward, so a
reading's score depends on it and the readings before it only. With ``update_every`` the
model is refitted on the latest readings at fixed positions of the stream; batch scoring cuts
the stream at the same positions, so both modes see the same weights at every reading.
"""

from __future__ import annotations

import copy
import math
from collections import deque

import numpy as np
import torch

from ...models.anomaly import SequenceAutoencoder, StreamForecaster
from ...runtime import evaluating
from ...train import fit
from .level import LevelResidual
from .likelihood import AnomalyLikelihood, Flagger
from .seasonal import SeasonalResidual

__all__ = ["build_model", "fit_stream", "fit_sequences", "stream_errors", "StreamScorer",
           "sequence_scores", "holdoff_of"]


def build_model(config, input_size: int, covariates: int = 0):
    if config.detector == "forecast":
        return StreamForecaster(input_size, config.hidden_size, cell=config.cell,
                                num_layers=config.num_layers, covariates=covariates)
    return SequenceAutoencoder(input_size, config.hidden_size, cell=config.cell,
                               num_layers=config.num_layers)


def _tensor(x, device=None) -> torch.Tensor:
    return torch.as_tensor(np.asarray(x), dtype=torch.float32, device=device)


def _device(model) -> torch.device:
    """Where ``model`` is (scoring feeds it there and brings the numbers back to the CPU)."""
    return next(model.parameters()).device


def _windows(values: np.ndarray, window: int) -> np.ndarray:
    """(N, F) → (N - window + 1, window, F), window i ending at reading i + window - 1."""
    view = np.lib.stride_tricks.sliding_window_view(values, window, axis=0)  # (M, F, W)
    return view.transpose(0, 2, 1).copy()


def fit_stream(model, values: np.ndarray, config, *, epochs: int, seed: int, **run):
    """Train the stream model on ``values`` (N, F + C) (its scaler must already be set).
    ``run``: ``fit``'s ``checkpoint_dir``, ``resume`` and ``extras``, for a resumable run."""
    if isinstance(model, StreamForecaster):
        n = len(values) - 1  # readings with a next one to predict
        B = max(1, min(8, n // (4 * config.chunk)))  # parallel contiguous pieces of the stream
        seg = n // B
        z = model.standardise(_tensor(values, _device(model))).cpu().numpy()
        X = np.stack([values[i * seg:(i + 1) * seg] for i in range(B)])  # (B, seg, F + C)
        Y = np.stack([z[i * seg + 1:(i + 1) * seg + 1] for i in range(B)])
        history = fit(model, (X.astype(np.float32), Y.astype(np.float32)), epochs=epochs,
            batch_size=B, tbptt=config.chunk, lr=config.lr, seed=seed, device=config.device,
            progress=False, clip_norm=1.0, **run)
    else:
        W = _windows(values, config.window).astype(np.float32)
        history = fit(model, (W, model.standardise(_tensor(W, _device(model))).cpu().numpy()),
            epochs=epochs,
            batch_size=config.batch_size, lr=config.lr, seed=seed, device=config.device,
            progress=False, clip_norm=1.0, **run)
    model.eval()
    return history


def fit_sequences(model, values: np.ndarray, config, **run):
    """Train on normal sequences ``values`` (N, T, F) (scaler set); ``run`` as ``fit_stream``."""
    X = values.astype(np.float32)
    if isinstance(model, StreamForecaster):
        z = model.standardise(_tensor(X)).numpy()
        history = fit(_NextStep(model), (X[:, :-1], z[:, 1:]), epochs=config.epochs,
            batch_size=config.batch_size, lr=config.lr, seed=config.seed,
            device=config.device, progress=False, clip_norm=1.0, **run)
    else:
        history = fit(model, (X, model.standardise(_tensor(X)).numpy()), epochs=config.epochs,
            batch_size=config.batch_size, lr=config.lr, seed=config.seed,
            device=config.device, progress=False, clip_norm=1.0, **run)
    model.eval()
    return history


class _NextStep(torch.nn.Module):
    """``model(x)`` without the state, for fitting a forecaster on whole sequences."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x)[0]


def sequence_scores(model, values: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Mean squared standardised error of each sequence (N, T, F) → (N,)."""
    out = []
    with evaluating(model):
        for i in range(0, len(values), batch_size):
            x = _tensor(values[i:i + batch_size], _device(model))
            z = model.standardise(x)
            if isinstance(model, StreamForecaster):
                err = (model(x)[0][:, :-1] - z[:, 1:]) ** 2
            else:
                err = (model(x) - z) ** 2
            out.append(err.mean(dim=(1, 2)).double().cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0)


def stream_errors(model, values: np.ndarray, window: int) -> np.ndarray:
    """Absolute standardised errors (N, F) of a stream scored from its start."""
    return ErrorStream(model, window).errors(values)


class ErrorStream:
    """Per-reading absolute standardised errors, continuing across calls: the recurrent
    state and last forecast (forecaster) or the last ``window - 1`` readings (autoencoder)."""

    def __init__(self, model, window: int):
        self.model, self.window = model.eval(), window
        self.forecaster = isinstance(model, StreamForecaster)
        self.state, self.prev = None, None  # recurrent state, forecast of the next reading
        self.past: deque[np.ndarray] = deque(maxlen=window - 1)

    @torch.no_grad()
    def errors(self, values: np.ndarray) -> np.ndarray:
        """(n, F) errors of the next n readings."""
        x = _tensor(values, _device(self.model))
        if self.forecaster:
            pred, self.state = self.model(x[None], self.state)  # (1, n, F)
            z = self.model.standardise(x)
            prev = torch.cat([(self.prev if self.prev is not None else z[0])[None],
                              pred[0, :-1]])  # the forecast of each reading
            self.prev = pred[0, -1]
            return (z - prev).abs().double().cpu().numpy()
        past = np.asarray(self.past).reshape(-1, values.shape[1])
        full = np.concatenate([past, values])
        self.past.extend(values)
        err = np.zeros((len(values), self.model.input_size))
        if len(full) >= self.window:
            win = _tensor(_windows(full, self.window), _device(self.model))  # ending at each
            e = (self.model(win) - self.model.standardise(win)).abs().mean(1)  # (M, F)
            err[len(err) - len(e):] = e.double().cpu().numpy()
        return err


class SignalLikelihood:
    """A model-free residual (``SeasonalResidual``, ``LevelResidual``) with likelihoods of
    its own over the same windows as the model's score: ``update(value) -> the largest``."""

    def __init__(self, residual, windows: list[int], config, warmup: int):
        self.residual, self.log = residual, config.score_scale == "log"
        self.likelihoods = [AnomalyLikelihood(w, config.long_window, warmup, config.min_std)
                            for w in windows]

    def update(self, value: np.ndarray) -> float:
        s = self.residual.update(value)
        s = math.log1p(s) if self.log else s  # scaled like the model's score
        return max(lik.update(s) for lik in self.likelihoods)


def holdoff_of(config, learned_rows: int) -> int:
    """Readings silenced after a flag: ``config.holdoff`` when set, else ``holdoff_share``
    of the learning rows (0 when both are none)."""
    if config.holdoff is not None:
        return config.holdoff
    if config.holdoff_share is None:
        return 0
    return int(round(config.holdoff_share * learned_rows))


class StreamScorer:
    """Scores one stream from its start: ``step(reading) -> row`` or ``run(values) -> rows``.

    A row is (raw score, likelihood, flag). ``scale`` (F,) divides the per-feature absolute
    errors; ``config`` gives the likelihood, flag, extremes and online-update settings;
    ``seasonal`` (the checkpoint's per-column periods) the seasonal signal, used with
    ``config.seasonal_min_ac``; ``config.level_window`` the level signal (``level.py``).
    """

    def __init__(self, model, config, scale: np.ndarray, *, threshold: float,
                 learned_rows: int = 0, seasonal: list[dict] | None = None):
        updates = config.update_every is not None
        self.model, self.config, self.window = model, config, config.window
        self.errors = ErrorStream(copy.deepcopy(model) if updates else model, config.window)
        self.scale = np.asarray(scale, dtype=np.float64)
        warmup = config.warmup if config.warmup is not None else learned_rows
        self.warmup, self.scored = warmup, 0  # no out-of-range likelihood before warmup
        windows = [w for w in (config.short_window, config.slow_window) if w]
        self.likelihoods = [AnomalyLikelihood(w, config.long_window, warmup, config.min_std)
                            for w in windows]
        self.signals: list[SignalLikelihood] = []  # model-free residuals beside the model's
        if config.seasonal_min_ac is not None:
            if seasonal is None:
                raise ValueError("anomaly: seasonal_min_ac needs a checkpoint that stores the "
                                 "learning period's periods; train it again with this version")
            residual = SeasonalResidual(seasonal, config.seasonal_min_ac)
            if residual:  # some column has a period
                self.signals.append(SignalLikelihood(residual, windows, config, warmup))
        if config.level_window is not None:
            std = model.std.detach().double().cpu().numpy()[:len(self.scale)]  # learning's
            self.signals.append(SignalLikelihood(LevelResidual(std, config.level_window),
                                                 windows, config, warmup))
        self.flagger = Flagger(threshold, holdoff_of(config, learned_rows))
        self.low = self.high = None
        keep = max(config.window, config.learning_rows or 0) if updates else config.window
        self.recent: deque[np.ndarray] = deque(maxlen=keep)
        self.t = 0

    # ------------------------------------------------------------------ post-processing
    def _row(self, value: np.ndarray, err: np.ndarray) -> tuple[float, float, bool]:
        score = float(np.mean(err / self.scale))
        if self.config.score_scale == "log":
            score = math.log1p(score)
        lik = max([lik.update(score) for lik in self.likelihoods])  # fast and slow averages
        lik = max([lik] + [signal.update(value) for signal in self.signals])
        margin = self.config.extreme_margin
        if margin is not None and self.low is not None and self.scored >= self.warmup:
            span = self.high - self.low
            if ((value > self.high + margin * span) | (value < self.low - margin * span)).any() \
                    and (span > 0).all():
                lik = 1.0
        self.low = value.copy() if self.low is None else np.minimum(self.low, value)
        self.high = value.copy() if self.high is None else np.maximum(self.high, value)
        self.scored += 1
        return score, lik, self.flagger.update(lik)

    def _maybe_update(self) -> None:
        every = self.config.update_every
        if every is None or self.t == 0 or self.t % every:
            return
        recent = np.asarray(self.recent)
        if len(recent) > max(2 * self.config.chunk, self.window):
            fit_stream(self.errors.model, recent, self.config, epochs=self.config.update_epochs,
                       seed=self.config.seed + self.t)

    def step(self, value) -> tuple[float, float, bool]:
        """Score one reading (F + C,): (raw score, likelihood, flag). O(1) per reading."""
        value = np.asarray(value, dtype=np.float64).reshape(-1)
        self._maybe_update()
        err = self.errors.errors(value[None])[0]
        self.recent.append(value)
        self.t += 1
        return self._row(value[:len(self.scale)], err)

    def run(self, values: np.ndarray) -> list[tuple[float, float, bool]]:
        """Score readings (n, F + C) in batches cut at the update positions; as ``step``."""
        values = np.asarray(values, dtype=np.float64)
        rows, i, every = [], 0, self.config.update_every
        while i < len(values):
            self._maybe_update()
            j = len(values) if every is None else min(len(values), (self.t // every + 1) * every)
            err = self.errors.errors(values[i:j])
            for k in range(i, j):
                self.recent.append(values[k])
                rows.append(self._row(values[k, :len(self.scale)], err[k - i]))
            self.t += j - i
            i = j
        return rows
