"""A convolutional front end for numeric series: the three blocks of the fully convolutional
network (FCN) of Wang, Yan & Oates (2017, "Time series classification from scratch with deep
neural networks"), as used beside an LSTM in LSTM-FCN (Karim et al. 2017).

    z¹ = ReLU(BN(Conv1d_k7(x)))      C channels        (padding "same", steps past a length zeroed)
    z² = ReLU(BN(Conv1d_k5(z¹)))     2C channels
    z³ = ReLU(BN(Conv1d_k3(z²)))     C channels        -> (B, T, C) for the recurrent encoder
    g  = mean_t z³_t                 (B, C)            global average pooling, over real steps

``dilation=d`` spaces block i's kernel taps d^i steps apart (1, d, d²): the receptive field
grows from FCN's 13 steps (d = 1) to 1 + 6 + 4d + 2d² (d = 4: 55 steps), as in the dilated
stacks of WaveNet / TCN, at the same cost.

Example:
    >>> front = ConvFrontEnd(3, channels=16)
    >>> z, g = front(torch.randn(4, 50, 3), torch.tensor([50, 40, 30, 5]))
    >>> z.shape, g.shape
    (torch.Size([4, 50, 16]), torch.Size([4, 16]))
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["ConvFrontEnd"]

KERNELS = (7, 5, 3)  # FCN's 8, 5, 3 with the 8 made odd: "same" padding without a copy


class ConvFrontEnd(nn.Module):
    """FCN's three convolution blocks over (B, T, F) -> (features (B, T, C), average (B, C))."""

    def __init__(self, input_size: int, channels: int = 64, dilation: int = 1):
        super().__init__()
        if not isinstance(dilation, int) or isinstance(dilation, bool) or dilation < 1:
            raise ValueError(f"ConvFrontEnd: dilation must be a positive integer, got "
                             f"{dilation!r}")
        widths = (input_size, channels, 2 * channels, channels)
        spacing = (1, dilation, dilation ** 2)
        pairs = zip(widths[:-1], widths[1:], KERNELS, spacing, strict=True)
        self.convs = nn.ModuleList(nn.Conv1d(a, b, k, padding=d * (k // 2), dilation=d)
                                   for a, b, k, d in pairs)
        self.norms = nn.ModuleList(nn.BatchNorm1d(b) for b in widths[1:])
        self.output_size = channels

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> tuple[Tensor, Tensor]:
        B, T, _ = x.shape
        mask = torch.ones(B, 1, T, dtype=x.dtype, device=x.device)
        if lengths is not None:
            steps = torch.arange(T, device=x.device)[None, :]
            mask = (steps < torch.as_tensor(lengths, device=x.device)[:, None]).unsqueeze(1).to(
                x.dtype)  # (B, 1, T)
        z = x.transpose(1, 2) * mask  # (B, F, T)
        for conv, norm in zip(self.convs, self.norms, strict=True):
            z = torch.relu(norm(conv(z))) * mask  # (B, C_i, T)
        average = z.sum(2) / mask.sum(2)  # (B, C)
        return z.transpose(1, 2), average  # (B, T, C), (B, C)
