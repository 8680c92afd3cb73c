"""ForecasterEnsemble: K global forecasters trained apart (different seeds, optionally
different look-backs), their point forecasts combined step by step:

    yhat_{t+h} = median_k f_k(x[-L_k:])_{t+h}          (or the mean over k)

Networks trained from different random starts and batch orders make different errors on the
same window; combining them removes much of that variance, which on short series is a large
part of the error. N-BEATS (Oreshkin et al. 2020) forecasts with the median of 180 networks
(seeds x look-backs 2H..7H x losses); the M4 winner (ES-RNN) combined several runs too.

The input is the longest look-back ``max_k L_k``; a member with a shorter one reads its last
``L_k`` steps. ``forecast`` and ``forward`` take what one ``Forecaster`` takes, so the panel
path, ``rnnkit forecast predict|evaluate``, serving and ONNX export use the combination
unchanged.

Example:
    >>> members = [Forecaster(2, 12, 3, hidden_size=8, norm="none") for _ in range(3)]
    >>> ForecasterEnsemble.of(members)(torch.zeros(4, 12, 2)).shape
    torch.Size([4, 3, 2])
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ...checkpoint import register_model
from ...models.forecaster import Forecast, Forecaster

__all__ = ["ForecasterEnsemble", "COMBINES", "combine"]

COMBINES = ("median", "mean")


def combine(outs: Tensor, how: str) -> Tensor:
    """(K, ...) member outputs -> (...): their median (the mean of the middle two for even K)
    or mean. The median sorts (ONNX TopK) rather than calling ``torch.median``, which takes
    the lower middle value for even K."""
    if how == "mean":
        return outs.mean(0)
    s = torch.sort(outs, dim=0).values
    k = s.shape[0]
    return s[k // 2] if k % 2 else 0.5 * (s[k // 2 - 1] + s[k // 2])


@register_model
class ForecasterEnsemble(nn.Module):
    """The ``combine`` (median or mean) of the point forecasts of ``members``.

    Args:
        members: one ``Forecaster`` config (keyword arguments) per member, as
            ``ForecasterEnsemble.of(models)`` writes them (JSON-able, so ``rnnkit.load``
            rebuilds the ensemble). They must agree on horizon, channels, targets and
            covariates, and give point forecasts; look-backs may differ.
        combine: ``"median"`` or ``"mean"``.

    Shapes:
        x: (B, L, C + K) with L >= the longest member look-back (its last L_k steps go to
        member k); future_covariates: (B, H, K). Returns (B, H, T).
    """

    def __init__(self, members: Sequence[dict], combine: str = "median"):
        super().__init__()
        if not members:
            raise ValueError("ForecasterEnsemble: needs at least one member, got none")
        if combine not in COMBINES:
            raise ValueError(f"ForecasterEnsemble: combine must be one of {', '.join(COMBINES)}, "
                             f"got {combine!r}")
        self.members = nn.ModuleList(Forecaster(**dict(m)) for m in members)
        first = self.members[0]
        for m in self.members:
            same = (m.horizon, m.input_size, m.covariate_size, m.target_index) == (
                first.horizon, first.input_size, first.covariate_size, first.target_index)
            if not same or m.output != "point":
                raise ValueError("ForecasterEnsemble: members must share horizon, channels, "
                                 "targets and covariates and give point forecasts")
        self.config = {"members": [dict(m.config) for m in self.members], "combine": combine}
        self.combine = combine
        # what code written for one Forecaster reads (panel path, export, describe)
        self.lookback = max(m.lookback for m in self.members)
        self.horizon, self.input_size = first.horizon, first.input_size
        self.covariate_size, self.target_index = first.covariate_size, first.target_index
        self.output, self.mode = "point", first.mode

    @classmethod
    def of(cls, models: Sequence[Forecaster], combine: str = "median") -> ForecasterEnsemble:
        """An ensemble holding (copies of the weights of) trained ``models``."""
        ensemble = cls([m.config for m in models], combine)
        for mine, theirs in zip(ensemble.members, models, strict=True):
            mine.load_state_dict(theirs.state_dict())
        return ensemble

    def __len__(self) -> int:
        return len(self.members)

    def member_outputs(self, x: Tensor, future_covariates: Tensor | None = None) -> Tensor:
        """Every member's forecast, (K, B, H, T)."""
        if not isinstance(x, Tensor) or x.dim() != 3 or x.shape[1] < self.lookback:
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"ForecasterEnsemble: expected input of shape (B, >= "
                             f"{self.lookback}, channels + covariates), got {shape}")
        return torch.stack([m(x[:, x.shape[1] - m.lookback:], future_covariates)
                            for m in self.members])

    def forward(self, x: Tensor, future_covariates: Tensor | None = None) -> Tensor:
        return combine(self.member_outputs(x, future_covariates), self.combine)

    @torch.no_grad()
    def forecast(self, x: Tensor, future_covariates: Tensor | None = None,
                 level: float | None = None, batch_size: int = 512) -> Forecast:
        """The combined point forecasts (B, H, T), in eval mode (``Forecaster.forecast``)."""
        if level is not None:
            raise ValueError("ForecasterEnsemble: point forecasts only; the panel path's "
                             "intervals come from validation errors")
        was = self.training
        self.eval()
        try:
            outs = [self(x[i:i + batch_size], None if future_covariates is None else
                         future_covariates[i:i + batch_size])
                    for i in range(0, len(x), batch_size)]
            out = torch.cat(outs) if outs else self(x, future_covariates)
        finally:
            self.train(was)
        return Forecast(out)

    def export_graphs(self) -> list:
        """One ONNX graph: the longest look-back in, the combined forecast out."""
        from ...export.graphs import BATCH, Graph, Port

        C, K, L, H = self.input_size, self.covariate_size, self.lookback, self.horizon
        inputs = [Port("x", "float32", [BATCH, L, C + K])]
        if K:
            inputs.append(Port("future_covariates", "float32", [BATCH, H, K]))
        return [Graph("model", _Whole(self), inputs,
                      [Port("forecast", "float32", [BATCH, H, len(self.target_index)])],
                      doc=f"look-back windows of {L} steps -> the next {H}: the {self.combine} "
                          f"of {len(self)} forecasters; a window model: no streaming step")]


class _Whole(nn.Module):
    """The ensemble's forward as a graph module (outputs as a tuple)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, *inputs):
        return (self.model(*inputs),)
