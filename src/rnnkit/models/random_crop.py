"""RandomCrop: window slicing for numeric series, active only while training.

Le Guennec, Malinowski & Tavenard (2016, "Data augmentation for time series classification
using convolutional neural networks") train on random slices of each series instead of the
whole of it: a small training set then shows the network each pattern at many positions. As
Keras' ``RandomCrop`` layer, it is the identity in ``eval()``, so prediction, evaluation and
export see whole series.

    keep_b ~ U(min_keep, 1)                   the fraction of series b kept, drawn every batch
    L'_b   = max(1, floor(keep_b · L_b))      its new length
    s_b    ~ U{0, ..., L_b − L'_b}            where the window starts
    x'_b   = x_b[s_b : s_b + L'_b], zero past L'_b     (lengths L' go on with it)

The draws use torch's global generator, which ``fit`` seeds and a resumed run restores, as
``word_dropout`` and dropout do.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["RandomCrop"]


class RandomCrop(nn.Module):
    """Each training series cut to a random window of at least ``min_keep`` of its length."""

    def __init__(self, min_keep: float = 1.0):
        super().__init__()
        if not 0.0 < float(min_keep) <= 1.0:
            raise ValueError(f"RandomCrop: min_keep must lie in (0, 1] (the smallest share of "
                             f"a series kept; 1: no cropping), got {min_keep!r}")
        self.min_keep = float(min_keep)

    def forward(self, x: Tensor, lengths: Tensor | None = None
                ) -> tuple[Tensor, Tensor | None]:
        """``(x, lengths)`` for ``x`` of shape (B, T, F) with real lengths (None: all T)."""
        if not self.training or self.min_keep >= 1.0:
            return x, lengths
        B, T, F = x.shape
        full = torch.full((B,), T) if lengths is None else torch.as_tensor(lengths).cpu().long()
        keep = self.min_keep + (1.0 - self.min_keep) * torch.rand(B)
        new = (full.to(keep.dtype) * keep).floor().long().clamp(min=1)
        start = ((full - new).to(keep.dtype) * torch.rand(B)).floor().long()
        width = int(new.max())
        steps = torch.arange(width)
        index = (start[:, None] + steps[None, :]).clamp(max=T - 1)  # (B, width)
        inside = steps[None, :] < new[:, None]  # (B, width): real steps of the window
        index = index.to(x.device)
        out = x.gather(1, index[:, :, None].expand(B, width, F))
        out = out * inside.to(device=x.device, dtype=x.dtype)[:, :, None]
        return out, new

    def extra_repr(self) -> str:
        return f"min_keep={self.min_keep}"
