"""``rnnkit predict``: the 0.1.0 name of ``rnnkit regress predict``."""

from __future__ import annotations

from .regress import PREDICT_EXAMPLES, add_predict


def register(subparsers) -> None:
    add_predict(subparsers, "predict", [e.replace("rnnkit regress predict", "rnnkit predict")
                                        for e in PREDICT_EXAMPLES])
