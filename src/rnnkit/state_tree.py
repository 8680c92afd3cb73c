"""Walk nested recurrent state: a tensor, an LSTM's ``(h, c)``, a list per layer, a dict.

Recurrent states come in a few shapes — ``h`` (a tensor), ``(h, c)``, a list or tuple of
those per layer or per direction, occasionally a dict — and everything that carries state
(truncated BPTT, streaming, generation, diagnostics) needs to detach, move, stack or index
all its tensors at once. These helpers do it for any nesting; containers keep their type
(tuple stays tuple, list stays list, dict stays dict), ``None`` and non-tensor leaves pass
through ``tree_map`` untouched.

Example:
    >>> state = (torch.zeros(2, 4, 8), torch.zeros(2, 4, 8))   # (h, c), (L, B, H)
    >>> detached = detach(state)
    >>> [t.shape for t in leaves(state)]
    [torch.Size([2, 4, 8]), torch.Size([2, 4, 8])]
    >>> first = tree_map(lambda s: s[:, :1], state)           # the batch's first row
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

__all__ = ["tree_map", "leaves", "unflatten", "detach", "to", "stack", "index", "structure"]


def tree_map(fn: Callable[..., Any], *trees):
    """``fn`` applied leaf-wise over one or more trees of the same structure.

    Leaves are tensors; ``None`` is kept as ``None``; with one tree, other leaves (ints,
    strings) are passed through unchanged.
    """
    first = trees[0]
    if isinstance(first, (tuple, list)):
        parts = [tree_map(fn, *group) for group in zip(*trees, strict=True)]
        if isinstance(first, tuple) and hasattr(first, "_fields"):  # a namedtuple
            return type(first)(*parts)
        return type(first)(parts)
    if isinstance(first, dict):
        return {k: tree_map(fn, *(t[k] for t in trees)) for k in first}
    if first is None:
        return None
    if len(trees) == 1 and not isinstance(first, Tensor):
        return first
    return fn(*trees)


def leaves(tree) -> list[Tensor]:
    """The tensors of ``tree`` in order (depth first, dicts in insertion order)."""
    if isinstance(tree, (tuple, list)):
        return [leaf for part in tree for leaf in leaves(part)]
    if isinstance(tree, dict):
        return [leaf for part in tree.values() for leaf in leaves(part)]
    return [tree] if isinstance(tree, Tensor) else []


def unflatten(template, flat) -> Any:
    """The tree with ``template``'s structure whose tensors are ``flat`` (as from ``leaves``)."""
    it = iter(flat)
    out = tree_map(lambda _t: next(it), template)
    rest = sum(1 for _ in it)
    if rest:
        raise ValueError(f"unflatten: {rest} more tensors than the template's "
                         f"{len(leaves(template))}")
    return out


def structure(tree) -> Any:
    """The tree with each tensor replaced by its shape: to compare or print structures."""
    return tree_map(lambda t: tuple(t.shape), tree)


def detach(tree):
    """Every tensor detached from the graph (truncated BPTT's cut)."""
    return tree_map(lambda t: t.detach(), tree)


def to(tree, device=None, dtype=None):
    """Every tensor moved to ``device`` and/or cast to ``dtype`` (floating tensors only)."""
    def move(t: Tensor) -> Tensor:
        if dtype is not None and t.is_floating_point():
            return t.to(device=device, dtype=dtype)
        return t.to(device=device) if device is not None else t
    return tree_map(move, tree)


def stack(trees: list, dim: int = 0):
    """Leaf-wise ``torch.stack`` of same-structured trees (per-layer states → one state)."""
    return tree_map(lambda *ts: torch.stack(ts, dim), *trees)


def index(tree, i, dim: int = 0):
    """Leaf-wise ``t.select(dim, i)`` for an int, ``index_select`` for an index tensor."""
    if isinstance(i, Tensor):
        return tree_map(lambda t: t.index_select(dim, i.to(t.device)), tree)
    return tree_map(lambda t: t.select(dim, i), tree)
