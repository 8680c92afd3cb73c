"""A naive-Bayes bag-of-n-grams expert over token ids, which a TextClassifier can mix into its
recurrent logits. Not recurrent, and not trained by gradient: its weights are counted.

    nb(x)[c] = Σ_{g ∈ set of n-grams(x)} W[hash(g) mod G, c]
    W[g, c]  = log p(g | c) - mean_c' log p(g | c'),   p(g | c) = (n_gc + α) / (n_c + α G)

with n_gc the number of class-c examples containing g (binarised counts, "MNB-bi").

This is the multinomial naive Bayes of Wang & Manning (2012, "Baselines and bigrams: simple,
good sentiment and topic classification"), on n-grams of orders 1..``order`` read off the
right-padded ids (never crossing a sequence's end) and hashed into ``num_buckets`` rows
(fastText's hashing trick, Joulin et al. 2017). Centring each row leaves the softmax unchanged.

Example:
    >>> nb = NgramNaiveBayes(num_buckets=1 << 16, num_classes=2, order=2)
    >>> nb.fit([(torch.tensor([[5, 6, 7, 0]]), torch.tensor([3]), torch.tensor([1]))])
    >>> nb(torch.tensor([[5, 6, 0]]), torch.tensor([2])).shape    # 2 unigrams + 1 bigram
    torch.Size([1, 2])
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor, nn

__all__ = ["NgramNaiveBayes"]

_PRIME = 1_000_003  # polynomial rolling hash of the ids; int64 arithmetic wraps, which is fine


class NgramNaiveBayes(nn.Module):
    """Bag of hashed n-grams -> naive-Bayes class scores (B, C); see the module docstring."""

    def __init__(self, num_buckets: int, num_classes: int, order: int = 2):
        super().__init__()
        if not isinstance(num_buckets, int) or isinstance(num_buckets, bool) or num_buckets < 1:
            raise ValueError(f"NgramNaiveBayes: num_buckets must be a positive integer, got "
                             f"{num_buckets!r}")
        if not isinstance(order, int) or isinstance(order, bool) or order < 1:
            raise ValueError(f"NgramNaiveBayes: order must be a positive integer, got {order!r}")
        self.num_buckets, self.order = num_buckets, order
        self.register_buffer("weight", torch.zeros(num_buckets, num_classes))  # (G, C), counted

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

    def distinct(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """Like ``buckets``, with each example's repeated buckets masked out (a set)."""
        ids, mask = self.buckets(x, lengths)
        ids, _ = torch.where(mask, ids, -1).sort(dim=1)  # padding (-1) first, repeats adjacent
        first = torch.ones_like(mask)
        first[:, 1:] = ids[:, 1:] != ids[:, :-1]
        return ids.clamp(min=0), first & (ids >= 0)

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        ids, mask = self.distinct(x, lengths)
        return (self.weight[ids] * mask.unsqueeze(-1)).sum(1)  # (B, C)

    @torch.no_grad()
    def fit(self, batches: Iterable[tuple[Tensor, Tensor, Tensor]], alpha: float = 1.0) -> None:
        """Count the n-grams of ``(x, lengths, y)`` batches and set the weights (add-``alpha``)."""
        counts = torch.zeros(self.weight.shape, dtype=torch.float64)  # (G, C)
        for x, lengths, y in batches:
            ids, mask = self.distinct(x.cpu(), lengths.cpu())
            classes = y.cpu().unsqueeze(1).expand_as(ids)
            counts.index_put_((ids[mask], classes[mask]),
                              torch.ones(int(mask.sum()), dtype=counts.dtype), accumulate=True)
        logp = torch.log((counts + alpha) / (counts.sum(0, keepdim=True)
                                             + alpha * self.num_buckets))
        self.weight.copy_((logp - logp.mean(1, keepdim=True)).to(self.weight))
