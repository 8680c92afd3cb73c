"""``rnnkit train``: the 0.1.0 name of ``rnnkit regress train`` (the articles' first example)."""

from __future__ import annotations

from .regress import TRAIN_EXAMPLES, add_train


def register(subparsers) -> None:
    add_train(subparsers, "train", [e.replace("rnnkit regress train", "rnnkit train")
                                    for e in TRAIN_EXAMPLES])
