"""A linear model over hashed n-grams of token ids: the bag-of-n-grams path a TextClassifier can
add to its recurrent logits. Not recurrent — a word-order-blind baseline made part of the model.

    logits = Σ_{g ∈ n-grams(x)} W[hash(g) mod G]          W: (G, C), G hash buckets

The n-grams (orders 1..``order``) are read off the right-padded token ids, never crossing a
sequence's end, and hashed into ``num_buckets`` rows (fastText's hashing trick, Joulin et al.
2017). ``init_naive_bayes`` sets ``W`` to multinomial naive-Bayes log-likelihoods counted on
training data (Wang & Manning 2012, "Baselines and bigrams"), so the path starts as MNB and is
then trained jointly with the rest of the model.

Example:
    >>> path = NgramLinear(num_buckets=1 << 16, num_classes=2, order=2)
    >>> path(torch.tensor([[5, 6, 7, 0]]), torch.tensor([3])).shape   # 3 unigrams + 2 bigrams
    torch.Size([1, 2])
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor, nn

__all__ = ["NgramLinear"]

_PRIME = 1_000_003  # polynomial rolling hash of the ids; int64 arithmetic wraps, which is fine


class NgramLinear(nn.Module):
    """Bag of hashed n-grams -> class logits (B, C); see the module docstring."""

    def __init__(self, num_buckets: int, num_classes: int, order: int = 2):
        super().__init__()
        if not isinstance(num_buckets, int) or num_buckets < 1:
            raise ValueError(f"NgramLinear: num_buckets must be a positive integer, got "
                             f"{num_buckets!r}")
        if not isinstance(order, int) or order < 1:
            raise ValueError(f"NgramLinear: order must be a positive integer, got {order!r}")
        self.num_buckets, self.order = num_buckets, order
        self.weight = nn.Parameter(torch.zeros(num_buckets, num_classes))  # (G, C)

    def buckets(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """Bucket ids (B, N) of every n-gram start, and a mask (B, N) of the real ones."""
        B, T = x.shape
        lengths = lengths.to(x.device)
        t = torch.arange(T, device=x.device)
        ids, masks, h = [], [], x
        for n in range(1, min(self.order, T) + 1):
            if n > 1:
                h = h[:, :-1] * _PRIME + x[:, n - 1:]  # (B, T-n+1): the n-gram starting at t
            ids.append(torch.remainder(h * (2 * n + 1) + n, self.num_buckets))
            masks.append(t[: T - n + 1].unsqueeze(0) + n <= lengths.unsqueeze(1))
        return torch.cat(ids, 1), torch.cat(masks, 1)

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        ids, mask = self.buckets(x, lengths)
        return (self.weight[ids] * mask.unsqueeze(-1)).sum(1)  # (B, C)

    @torch.no_grad()
    def init_naive_bayes(self, batches: Iterable[tuple[Tensor, Tensor, Tensor]],
                         alpha: float = 1.0, scale: float = 1.0) -> None:
        """``W[g, c] = scale * (log p(g | c) - mean_c log p(g | c))`` from (x, lengths, y)
        batches, with add-``alpha`` smoothing (centring per n-gram leaves softmax unchanged)."""
        counts = torch.zeros_like(self.weight, dtype=torch.float64)  # (G, C)
        for x, lengths, y in batches:
            ids, mask = self.buckets(x, lengths)
            classes = y.to(ids.device).unsqueeze(1).expand_as(ids)
            counts.index_put_((ids[mask], classes[mask]),
                              torch.ones(int(mask.sum()), dtype=counts.dtype), accumulate=True)
        logp = torch.log((counts + alpha) / (counts.sum(0, keepdim=True)
                                             + alpha * self.num_buckets))
        self.weight.copy_((scale * (logp - logp.mean(1, keepdim=True))).to(self.weight.dtype))
