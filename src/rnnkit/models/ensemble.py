"""ClassifierEnsemble: K trained classifiers in one module, their class probabilities averaged.

    p(c | x) = (1/K) Σ_k softmax(f_k(x))_c          forward returns log p (B, C)

``forward`` returns log-probabilities, so ``softmax`` and ``argmax`` of its output are the
averaged probabilities and the ensemble's prediction, and code written for one classifier
(predict, evaluate, serving, export) takes an ensemble unchanged. Averaging independently
trained networks is the oldest variance reducer for small data (Hansen & Salamon 1990;
Lakshminarayanan et al. 2017 for deep networks).

Example:
    >>> members = [TextClassifier(vocab_size=50, hidden_size=4, num_classes=2) for _ in range(3)]
    >>> ensemble = ClassifierEnsemble.of(members)
    >>> ensemble(torch.randint(4, 50, (2, 6))).exp().sum(1)      # probabilities sum to 1
    tensor([1.0000, 1.0000], grad_fn=<SumBackward1>)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..checkpoint import register_model, registered_models

__all__ = ["ClassifierEnsemble"]


@register_model
class ClassifierEnsemble(nn.Module):
    """Average the class probabilities of ``members`` (registered classifiers).

    Args:
        members: one ``{"model_class": name, "model_config": kwargs}`` per member, as
            ``ClassifierEnsemble.of(models)`` writes them (JSON-able, so ``rnnkit.load``
            rebuilds the ensemble).

    Shapes:
        x: what each member takes ((B, T) token ids or (B, T, F) features); lengths: (B,).
        Returns log-probabilities (B, C).
    """

    def __init__(self, members: Sequence[dict]):
        super().__init__()
        if not members:
            raise ValueError("ClassifierEnsemble: needs at least one member, got none")
        classes = registered_models()
        for m in members:
            if m.get("model_class") not in classes:
                raise ValueError(f"ClassifierEnsemble: unknown member class "
                                 f"{m.get('model_class')!r}")
        self.config = {"members": [dict(m) for m in members]}
        self.members = nn.ModuleList(classes[m["model_class"]](**m["model_config"])
                                     for m in members)

    @classmethod
    def of(cls, models: Sequence[nn.Module]) -> ClassifierEnsemble:
        """An ensemble holding (copies of the weights of) trained ``models``."""
        ensemble = cls([{"model_class": type(m).__name__, "model_config": m.config}
                        for m in models])
        for mine, theirs in zip(ensemble.members, models, strict=True):
            mine.load_state_dict(theirs.state_dict())
        return ensemble

    # what code written for one classifier reads (export, serving): the members share them
    @property
    def is_text(self) -> bool:
        return bool(getattr(self.members[0], "is_text", False))

    @property
    def num_classes(self) -> int:
        return self.members[0].num_classes

    @property
    def input_size(self) -> int | None:
        return self.members[0].input_size

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        logp = torch.stack([F.log_softmax(m(x, lengths), dim=-1) for m in self.members])  # (K,B,C)
        return torch.logsumexp(logp, dim=0) - math.log(len(self.members))  # (B, C)
