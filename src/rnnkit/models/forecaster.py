"""Forecaster: an RNN that maps a look-back window of a multivariate series to the next
``horizon`` steps, as a point forecast or with prediction intervals.

Three ways to produce the horizon (``mode``):

- ``"direct"`` (multi-horizon head): encode the look-back with the RNN, then one linear map
  from the final output (and the future covariates) to all H x T values at once.
- ``"recursive"`` (autoregressive): a one-step-ahead model iterated H times, feeding each
  forecast back as the next input. It forecasts every input channel (it needs them all to
  continue), so the target must be all channels. Trained through the roll-out (free running).
- ``"segrnn"``: SegRNN (Lin et al. 2023, ``models/segrnn.py``): segment-wise encoding and
  parallel decoding of the horizon's segments; channel-independent.

Instance normalisation (``norm``): ``"revin"`` standardises each window by its own look-back
mean and std per channel and undoes it on the output (Kim et al. 2022, RevIN, without the
affine part); ``"last"`` subtracts the look-back's last value (SegRNN's choice); ``"none"``.

Outputs (``output``): ``"point"`` (B, H, T); ``"gaussian"`` (B, H, T, 2) holding mean and std,
trained by the Gaussian negative log-likelihood; ``"quantile"`` (B, H, T, Q), trained by the
pinball loss. ``model.loss`` is the matching training loss; ``model.forecast(...)`` returns
point forecasts and the interval bounds.

Example:
    >>> model = Forecaster(input_size=7, lookback=96, horizon=24, mode="segrnn")
    >>> model(torch.randn(8, 96, 7)).shape
    torch.Size([8, 24, 7])
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..checkpoint import register_model
from ..layers import RNN
from ..validate import positive_int
from .segrnn import SegRNN

__all__ = ["Forecaster", "Forecast", "MODES", "OUTPUTS", "NORMS", "gaussian_nll",
           "pinball_loss"]

MODES = ("direct", "recursive", "segrnn")
OUTPUTS = ("point", "gaussian", "quantile")
NORMS = ("revin", "last", "none")
POINT_LOSSES = ("mse", "mae", "huber")


def gaussian_nll(pred: Tensor, target: Tensor) -> Tensor:
    """Mean Gaussian negative log-likelihood; ``pred[..., 0]`` mean, ``pred[..., 1]`` std."""
    mu, sigma = pred[..., 0], pred[..., 1]
    return (torch.log(sigma) + 0.5 * ((target - mu) / sigma) ** 2).mean() + 0.5 * math.log(
        2 * math.pi)


def pinball_loss(pred: Tensor, target: Tensor, quantiles) -> Tensor:
    """Mean quantile (pinball) loss: ``max(q (y - yq), (q - 1)(y - yq))`` over all quantiles."""
    q = torch.as_tensor(quantiles, dtype=pred.dtype, device=pred.device)
    diff = target.unsqueeze(-1) - pred  # (..., Q)
    return torch.maximum(q * diff, (q - 1) * diff).mean()


@dataclass
class Forecast:
    """Point forecast and interval bounds, each (B, H, T); bounds are None for point models."""

    point: Tensor
    lower: Tensor | None = None
    upper: Tensor | None = None
    level: float | None = None


@register_model
class Forecaster(nn.Module):
    """Forecast ``horizon`` steps of the target channels from ``lookback`` steps of all inputs.

    Args:
        input_size: C, the series channels the model reads (standardised beforehand).
        lookback: L, steps of history per forecast.
        horizon: H, steps forecast at once.
        cell: ``"gru"``, ``"lstm"`` or ``"rnn"`` (any ``rnnkit.RNN`` kind).
        hidden_size: the recurrent size (SegRNN: also the segment embedding size).
        num_layers: stacked recurrent layers.
        mode: ``"direct"``, ``"recursive"`` or ``"segrnn"``.
        target_index: which of the C channels to forecast (default: all).
        covariate_size: K known covariates per step (calendar features), past and future.
        output: ``"point"``, ``"gaussian"`` or ``"quantile"``.
        quantiles: the quantile levels for ``output="quantile"``; must contain 0.5.
        segment_length: w for ``mode="segrnn"``.
        dropout: on the representation before the output map.
        norm: ``"revin"``, ``"last"`` or ``"none"`` instance normalisation.
        point_loss: ``"mse"``, ``"mae"`` or ``"huber"`` for ``output="point"``.

    Shapes:
        x: (B, L, C + K), covariates last; future_covariates: (B, H, K).
        returns (B, H, T) for points, (B, H, T, 2) for Gaussian (mean, std), (B, H, T, Q).
    """

    def __init__(self, input_size: int, lookback: int, horizon: int, *, cell: str = "gru",
                 hidden_size: int = 64, num_layers: int = 1, mode: str = "direct",
                 target_index: list[int] | None = None, covariate_size: int = 0,
                 output: str = "point", quantiles=(0.1, 0.5, 0.9), segment_length: int = 24,
                 dropout: float = 0.0, norm: str = "revin", point_loss: str = "mse"):
        super().__init__()
        for arg, value in (("input_size", input_size), ("lookback", lookback),
                           ("horizon", horizon), ("hidden_size", hidden_size),
                           ("num_layers", num_layers), ("segment_length", segment_length)):
            positive_int(arg, value, "Forecaster")
        for arg, value, allowed in (("mode", mode, MODES), ("output", output, OUTPUTS),
                                    ("norm", norm, NORMS), ("point_loss", point_loss,
                                                            POINT_LOSSES)):
            if value not in allowed:
                raise ValueError(f"Forecaster: unknown {arg} {value!r}; expected one of "
                                 f"{', '.join(allowed)}")
        if not isinstance(covariate_size, int) or covariate_size < 0:
            raise ValueError(f"Forecaster: covariate_size must be an integer >= 0, got "
                             f"{covariate_size!r}")
        target_index = list(range(input_size)) if target_index is None else [
            int(i) for i in target_index]
        if not target_index or any(not 0 <= i < input_size for i in target_index) or len(
                set(target_index)) != len(target_index):
            raise ValueError(f"Forecaster: target_index must list distinct channels in "
                             f"[0, {input_size}), got {target_index}")
        if mode == "recursive" and target_index != list(range(input_size)):
            raise ValueError(f"Forecaster: mode='recursive' feeds its forecasts back, so it must "
                             f"forecast every input channel; got target_index={target_index} of "
                             f"{input_size} channels (use only the target as input, or target "
                             "all channels)")
        quantiles = [float(q) for q in quantiles]
        if output == "quantile" and (0.5 not in quantiles or any(not 0 < q < 1 for q in
                                                                 quantiles)
                                     or quantiles != sorted(set(quantiles))):
            raise ValueError(f"Forecaster: quantiles must be increasing levels in (0, 1) "
                             f"including 0.5, got {quantiles}")
        self.config = dict(input_size=input_size, lookback=lookback, horizon=horizon, cell=cell,
                           hidden_size=hidden_size, num_layers=num_layers, mode=mode,
                           target_index=target_index, covariate_size=covariate_size,
                           output=output, quantiles=quantiles, segment_length=segment_length,
                           dropout=dropout, norm=norm, point_loss=point_loss)
        self.input_size, self.lookback, self.horizon = input_size, lookback, horizon
        self.mode, self.output, self.norm = mode, output, norm
        self.target_index, self.covariate_size = target_index, covariate_size
        self.quantiles, self.point_loss = quantiles, point_loss
        self.n_out = {"point": 1, "gaussian": 2, "quantile": len(quantiles)}[output]
        T, K = len(target_index), covariate_size
        if mode == "segrnn":
            self.net = SegRNN(T, lookback, horizon, segment_length, hidden_size, cell,
                              num_layers, dropout, self.n_out, K)
        elif mode == "direct":
            self.rnn = RNN(cell, input_size + K, hidden_size, num_layers)
            self.dropout = nn.Dropout(dropout)
            self.head = nn.Linear(hidden_size + horizon * K, horizon * T * self.n_out)
        else:  # recursive: one step ahead of every channel
            self.rnn = RNN(cell, input_size + K, hidden_size, num_layers)
            self.dropout = nn.Dropout(dropout)
            self.head = nn.Linear(hidden_size, input_size * self.n_out)

    # ------------------------------------------------------------------------- helpers
    def _check(self, x: Tensor, future: Tensor | None) -> None:
        C, K, L, H = self.input_size, self.covariate_size, self.lookback, self.horizon
        if not isinstance(x, Tensor) or x.dim() != 3 or x.shape[1:] != (L, C + K):
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"Forecaster: expected input of shape (B, {L}, {C + K}) "
                             f"(lookback, channels + covariates), got {shape}")
        if K and (future is None or future.shape != (x.shape[0], H, K)):
            shape = None if future is None else tuple(future.shape)
            raise ValueError(f"Forecaster: expected future covariates of shape "
                             f"({x.shape[0]}, {H}, {K}), got {shape}")

    def _normalise(self, y: Tensor):
        """Per-window statistics over the look-back: (B, 1, C) shift and scale."""
        if self.norm == "revin":
            shift = y.mean(1, keepdim=True).detach()
            scale = (y.var(1, keepdim=True, unbiased=False) + 1e-5).sqrt().detach()
        elif self.norm == "last":
            shift, scale = y[:, -1:].detach(), torch.ones_like(y[:, -1:])
        else:
            shift, scale = torch.zeros_like(y[:, -1:]), torch.ones_like(y[:, -1:])
        return shift, scale

    def _positive_std(self, raw: Tensor) -> Tensor:
        return F.softplus(raw) + 1e-4

    def _finish(self, out: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
        """(B, H, T, P) normalised → natural (standardised-input) units, final layout."""
        shift, scale = shift.unsqueeze(-1), scale.unsqueeze(-1)  # (B, 1, T, 1)
        if self.output == "gaussian":
            mu = out[..., 0:1] * scale + shift
            return torch.cat([mu, self._positive_std(out[..., 1:2]) * scale], -1)
        if self.output == "quantile":  # sorted so quantiles never cross
            return torch.sort(out, dim=-1).values * scale + shift
        return (out * scale + shift)[..., 0]

    # ------------------------------------------------------------------------- forward
    def forward(self, x: Tensor, future_covariates: Tensor | None = None) -> Tensor:
        """Forecast the horizon from ``x`` (B, L, C + K); see the class docstring."""
        self._check(x, future_covariates)
        C, K, H = self.input_size, self.covariate_size, self.horizon
        series, past_cov = x[..., :C], x[..., C:]
        shift, scale = self._normalise(series)
        z = (series - shift) / scale
        tgt = self.target_index
        if self.mode == "segrnn":
            out = self.net(z[..., tgt], past_cov, future_covariates)
            return self._finish(out, shift[..., tgt], scale[..., tgt])
        B = x.shape[0]
        if self.mode == "direct":
            outputs, _ = self.rnn(torch.cat([z, past_cov], -1))  # (B, L, hidden)
            feats = self.dropout(outputs[:, -1])
            if K:
                feats = torch.cat([feats, future_covariates.reshape(B, H * K)], -1)
            out = self.head(feats).view(B, H, len(tgt), self.n_out)
            return self._finish(out, shift[..., tgt], scale[..., tgt])
        # recursive: the encoder's last output predicts step 1; then feed forecasts back
        outputs, state = self.rnn(torch.cat([z, past_cov], -1))
        y = outputs[:, -1]
        steps = []
        for t in range(H):
            out = self.head(self.dropout(y)).view(B, C, self.n_out)  # (B, C, P)
            steps.append(out)
            if t == H - 1:
                break
            nxt = self._point_of(out)  # (B, C) normalised
            inp = nxt if not K else torch.cat([nxt, future_covariates[:, t]], -1)
            y, state = self.rnn.step(inp, state)
        return self._finish(torch.stack(steps, 1), shift, scale)

    def _point_of(self, out: Tensor) -> Tensor:
        """The value fed back in recursive mode: the mean or the median."""
        if self.output == "quantile":
            return torch.sort(out, -1).values[..., self.quantiles.index(0.5)]
        return out[..., 0]

    # -------------------------------------------------------------------------- losses
    @property
    def loss(self):
        """The training loss matching ``output`` (for ``rnnkit.fit(loss=model.loss)``)."""
        if self.output == "gaussian":
            return gaussian_nll
        if self.output == "quantile":
            q = self.quantiles
            return lambda pred, target: pinball_loss(pred, target, q)
        return {"mse": F.mse_loss, "mae": F.l1_loss, "huber": F.huber_loss}[self.point_loss]

    def point(self, out: Tensor) -> Tensor:
        """The point forecast (B, H, T) inside a forward output: itself, the mean or median."""
        if self.output == "point":
            return out
        if self.output == "gaussian":
            return out[..., 0]
        return out[..., self.quantiles.index(0.5)]

    def interval(self, out: Tensor, level: float = 0.8) -> tuple[Tensor, Tensor]:
        """Central ``level`` prediction interval (lower, upper), each (B, H, T)."""
        if not 0 < level < 1:
            raise ValueError(f"Forecaster: interval level must lie in (0, 1), got {level}")
        if self.output == "gaussian":
            z = torch.distributions.Normal(0.0, 1.0).icdf(torch.tensor(0.5 + level / 2)).item()
            return out[..., 0] - z * out[..., 1], out[..., 0] + z * out[..., 1]
        if self.output == "quantile":
            lo, hi = round((1 - level) / 2, 6), round((1 + level) / 2, 6)
            qs = [round(q, 6) for q in self.quantiles]
            if lo not in qs or hi not in qs:
                raise ValueError(f"Forecaster: a {level:g} interval needs quantiles {lo:g} and "
                                 f"{hi:g}; this model has {', '.join(f'{q:g}' for q in qs)}")
            return out[..., qs.index(lo)], out[..., qs.index(hi)]
        raise ValueError("Forecaster: output='point' gives no intervals; train with "
                         "output='gaussian' or 'quantile'")

    @property
    def default_level(self) -> float:
        """The interval level the model was trained for (quantile: the outermost pair)."""
        if self.output == "quantile":
            return round(self.quantiles[-1] - self.quantiles[0], 6)
        return 0.8

    @torch.no_grad()
    def forecast(self, x: Tensor, future_covariates: Tensor | None = None,
                 level: float | None = None, batch_size: int = 512) -> Forecast:
        """Point forecasts and ``level`` intervals (when probabilistic), in eval mode."""
        was = self.training
        self.eval()
        try:
            outs = []
            for i in range(0, len(x), batch_size):
                fc = None if future_covariates is None else future_covariates[i:i + batch_size]
                outs.append(self(x[i:i + batch_size], fc))
            out = torch.cat(outs) if outs else self(x, future_covariates)
        finally:
            self.train(was)
        if self.output == "point":
            return Forecast(out)
        level = self.default_level if level is None else level
        lower, upper = self.interval(out, level)
        return Forecast(self.point(out), lower, upper, level)
