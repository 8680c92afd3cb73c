"""TextClassifier: ``SequenceClassifier`` with a token front end, attention pooling and class
weights — one model class for text (token ids) and numeric sequences ``(B, T, F)``.

    e_t = Embedding(x_t)               (vocab_size=V: token ids)   or   e_t = x_t  (input_size=F)
    o_1..o_T, h_T = RNN(dropout_in(e_1..e_T))     outputs zero past each length, o_t in R^{D*H}
    v = pool(o, h_T)                   last | mean | max | attention | max_mean, real steps only
    logits = W · dropout(v) + b        (B, C)

Pooling: ``last``, ``mean`` and ``max`` are ``SequenceClassifier``'s. Conneau et al. (2017,
"Supervised learning of universal sentence representations") found max pooling over a BiLSTM
the strongest of them for sentences; ``max_mean`` puts the max and the mean side by side (as
ULMFiT's concat pooling, Howard & Ruder 2018, does with the last state too). ``attention`` is
one level of Yang et al. (2016, "Hierarchical attention networks"):
``a = softmax_t(u^T tanh(W o_t + b))``, ``v = Σ_t a_t o_t``.

Regularisers for small text sets with randomly initialised embeddings: ``embedding_dropout``
(dropout on e_t) and ``word_dropout`` (each token replaced by ``<unk>`` with that probability
while training, Iyyer et al. 2015); embeddings start small (N(0, ``embedding_std``²), 0.1 by
default rather than torch's N(0, 1), so that Adam's steps move them at the pace of the other
weights).

Optionally (``ngram_buckets > 0``, text only) a naive-Bayes bag-of-n-grams expert is mixed in:
``logits += ngram_scale · nb(x)`` (``models/ngrams.py``: counted uni- to ``ngram_order``-gram
log-likelihoods, Wang & Manning 2012). It is not recurrent and not trained by gradient: the
RNN is trained alone (``ngram_scale`` 0), then the counts are taken and ``ngram_scale`` chosen
on held-out data (``rnnkit.apps.classify.train`` does both) — a product of two experts.
Off by default.

Subwords (``subword_buckets > 0``, text): each token's row of the input also holds the hashed
ids of its character 3-5-grams (``data.classification.subword_ids``), and the token's vector is
its word embedding plus the mean of its n-gram embeddings (fastText's subword vectors,
Bojanowski et al. 2017): words never seen in training, and rare ones, still get a vector from
their spelling. The input is then (B, T, 1 + K) ids: the word id, then K n-gram ids (0 = none).

Numeric series: ``conv_channels > 0`` puts the three convolution blocks of FCN (Wang et al.
2017; ``models/conv_frontend.py``) before the RNN, and the head also sees the convolutions'
global average, as LSTM-FCN joins its two branches (Karim et al. 2017). ``downsample=d``
first averages every d steps (piecewise aggregate approximation), so long series reach the RNN
at most ``max_steps`` long; ``differences=True`` reads each feature's step-to-step change
beside it (``models/step_differences.py``). ``label_smoothing`` is the training loss's
(Szegedy et al. 2016).

Because padding never enters ``v``, a sequence gives the same logits alone and inside a
right-padded batch. ``class_weights`` re-weight the cross-entropy (``model.loss``, to pass to
``rnnkit.fit``) for imbalanced labels.

Example:
    >>> model = TextClassifier(vocab_size=100, hidden_size=8, num_classes=2, embedding_dim=16)
    >>> tokens, lengths = torch.randint(4, 100, (3, 7)), torch.tensor([7, 4, 1])
    >>> model(tokens, lengths).shape
    torch.Size([3, 2])
    >>> TextClassifier(2, 8, 3, pooling="attention")(torch.randn(5, 20, 2)).shape
    torch.Size([5, 3])
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..checkpoint import register_model
from ._sequence import POOLINGS as BASE_POOLINGS
from ._sequence import check_x, pool
from .classifier import SequenceClassifier
from .conv_frontend import ConvFrontEnd
from .ngrams import NgramNaiveBayes
from .random_crop import RandomCrop
from .step_differences import StepDifferences

__all__ = ["TextClassifier", "POOLINGS"]

POOLINGS = (*BASE_POOLINGS, "attention", "max_mean")


@register_model
class TextClassifier(SequenceClassifier):
    """Sequence classifier over token ids (``vocab_size=``) or features (``input_size=``).

    Args:
        input_size: F, features per step (numeric input); or None with ``vocab_size``.
        hidden_size: H per direction.
        num_classes: C (>= 2).
        vocab_size: V, for token ids (a tokenizer's ``vocab_size``); id ``padding_idx`` is
            padding. Give exactly one of ``input_size`` and ``vocab_size``.
        embedding_dim: E, a token's vector size (token ids only).
        cell, num_layers, init, activation: the encoder's (see ``SequenceClassifier``).
        bidirectional: read both ways (default True, the strong choice for sentences).
        pooling: "last" | "mean" | "max" (default) | "attention" | "max_mean" (the max and
            the mean over time side by side, 2 D*H features).
        dropout: on the pooled vector, and between stacked layers.
        embedding_dropout: dropout on the embedded tokens (or on the input features).
        word_dropout: probability of replacing a token by ``unk_idx`` while training.
        embedding_std: the standard deviation of the embeddings' initial N(0, std²) values.
        class_weights: C non-negative weights for the cross-entropy in ``loss``, or None.
        padding_idx, unk_idx: the padding and unknown token ids (0 and 1 in rnnkit's
            tokenizers).
        ngram_buckets: > 0 adds the naive-Bayes n-gram expert with this many hash buckets.
        ngram_order: the longest n-gram it counts (2: unigrams and bigrams).
        subword_buckets: > 0 (text): hashed character n-gram embeddings beside the words;
            the input is then (B, T, 1 + K) ids.
        label_smoothing: s in [0, 1) for the training cross-entropy (evaluation: none).
        conv_channels: > 0 (numeric): FCN convolution blocks of C, 2C, C channels first.
        downsample: d >= 1 (numeric): average every d steps first.
        conv_dilation: d >= 1 (numeric): the conv blocks' dilations are 1, d, d².
        crop: in (0, 1] (numeric): while training, each series is cut to a random window
            keeping at least this share of it (``RandomCrop``, window slicing); 1: off.
        differences: (numeric) each feature's standardised step-to-step change is read
            beside its value (``StepDifferences``; its μ, σ set by ``differences.fit``).

    Shapes:
        x: (B, T) integer token ids ((B, T, 1 + K) with subwords), or (B, T, F) floats;
        lengths: (B,) for right-padded batches — for token ids it defaults to the number of
        non-padding ids. Returns (B, C).
    """

    def __init__(self, input_size: int | None = None, hidden_size: int = 64,
                 num_classes: int = 2, *, vocab_size: int | None = None,
                 embedding_dim: int = 128, cell: str = "lstm", num_layers: int = 1,
                 bidirectional: bool = True, dropout: float = 0.0, init: str = "torch",
                 activation: str = "tanh", pooling: str = "max",
                 embedding_dropout: float = 0.0, word_dropout: float = 0.0,
                 embedding_std: float = 0.1, class_weights: list[float] | None = None,
                 padding_idx: int = 0, unk_idx: int = 1, ngram_buckets: int = 0,
                 ngram_order: int = 2, subword_buckets: int = 0, label_smoothing: float = 0.0,
                 conv_channels: int = 0, downsample: int = 1, conv_dilation: int = 1,
                 crop: float = 1.0, differences: bool = False):
        name = type(self).__name__
        if (vocab_size is None) == (input_size is None):
            raise ValueError(f"{name}: give exactly one of input_size (numeric features) and "
                             f"vocab_size (token ids), got input_size={input_size!r} and "
                             f"vocab_size={vocab_size!r}")
        if pooling not in POOLINGS:
            raise ValueError(f"{name}: unknown pooling {pooling!r}; expected one of "
                             f"{', '.join(POOLINGS)}")
        if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 2:
            raise ValueError(f"{name}: num_classes must be an integer >= 2, got {num_classes!r}")
        for arg, p in (("dropout", dropout), ("embedding_dropout", embedding_dropout),
                       ("word_dropout", word_dropout), ("label_smoothing", label_smoothing)):
            if not 0.0 <= float(p) < 1.0:
                raise ValueError(f"{name}: {arg} must lie in [0, 1), got {p!r}")
        if class_weights is not None:
            class_weights = [float(w) for w in class_weights]
            if len(class_weights) != num_classes or min(class_weights) < 0:
                raise ValueError(f"{name}: class_weights must be {num_classes} non-negative "
                                 f"numbers (one per class), got {class_weights!r}")
        if (conv_channels or downsample != 1) and vocab_size is not None:
            raise ValueError(f"{name}: conv_channels and downsample apply to numeric input "
                             "(input_size=)")
        if not isinstance(downsample, int) or isinstance(downsample, bool) or downsample < 1:
            raise ValueError(f"{name}: downsample must be a positive integer, got {downsample!r}")
        self.downsample = downsample
        if differences and vocab_size is not None:
            raise ValueError(f"{name}: differences apply to numeric series (input_size=)")
        width = input_size * (2 if differences else 1) if input_size else None  # what is read
        rnn_input = embedding_dim if vocab_size is not None else conv_channels or width
        super().__init__(rnn_input, hidden_size, num_classes, cell=cell, num_layers=num_layers,
                         bidirectional=bidirectional, dropout=dropout if num_layers > 1 else 0.0,
                         init=init, activation=activation,
                         pooling="max" if pooling in ("attention", "max_mean") else pooling)
        self.config = dict(
            input_size=input_size, hidden_size=hidden_size, num_classes=num_classes,
            vocab_size=vocab_size, embedding_dim=embedding_dim, cell=cell,
            num_layers=num_layers, bidirectional=bool(bidirectional), dropout=float(dropout),
            init=init, activation=activation, pooling=pooling,
            embedding_dropout=float(embedding_dropout), word_dropout=float(word_dropout),
            embedding_std=float(embedding_std), class_weights=class_weights,
            padding_idx=padding_idx, unk_idx=unk_idx, ngram_buckets=ngram_buckets,
            ngram_order=ngram_order, subword_buckets=subword_buckets,
            label_smoothing=float(label_smoothing), conv_channels=conv_channels,
            downsample=downsample, conv_dilation=conv_dilation, crop=float(crop),
            differences=bool(differences))
        self.pooling, self.num_classes = pooling, num_classes
        self.padding_idx, self.unk_idx, self.word_dropout = padding_idx, unk_idx, word_dropout
        self.is_text = vocab_size is not None
        self.embedding = None
        if self.is_text:
            self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=padding_idx)
            with torch.no_grad():
                nn.init.normal_(self.embedding.weight, std=embedding_std)
                self.embedding.weight[padding_idx].zero_()
        if subword_buckets and not self.is_text:
            raise ValueError(f"{name}: subword_buckets needs token ids (vocab_size=)")
        self.subword_buckets, self.label_smoothing = subword_buckets, float(label_smoothing)
        self.subwords = None
        if subword_buckets:  # id 0 of the table is "no n-gram" (padding)
            self.subwords = nn.Embedding(subword_buckets + 1, embedding_dim, padding_idx=0)
            with torch.no_grad():
                nn.init.normal_(self.subwords.weight, std=embedding_std)
                self.subwords.weight[0].zero_()
        self.input_dropout = nn.Dropout(embedding_dropout)
        self.input_size = input_size  # the RNN may read the conv front end's channels instead
        if crop != 1.0 and self.is_text:
            raise ValueError(f"{name}: crop applies to numeric series (input_size=), not text")
        self.crop = RandomCrop(crop)  # training only: a random window of each series
        self.differences = StepDifferences(input_size) if differences else None
        self.conv = ConvFrontEnd(width, conv_channels, conv_dilation) \
            if conv_channels else None
        features = self.rnn.output_size  # D * H
        pooled = 2 * features if pooling == "max_mean" else features
        if self.conv is not None or pooled != features:  # LSTM-FCN: the conv average too
            self.head = nn.Linear(pooled + conv_channels, num_classes)
        if pooling == "attention":
            self.attention = nn.Sequential(nn.Linear(features, features), nn.Tanh(),
                                           nn.Linear(features, 1, bias=False))
        self.dropout = nn.Dropout(dropout)
        if ngram_buckets and not self.is_text:
            raise ValueError(f"{name}: ngram_buckets needs token ids (vocab_size=)")
        self.ngrams = (NgramNaiveBayes(ngram_buckets, num_classes, ngram_order)
                       if ngram_buckets else None)
        if self.ngrams is not None:  # a buffer: saved with the weights, never trained
            self.register_buffer("ngram_scale", torch.tensor(0.0))
        weight = torch.tensor(class_weights) if class_weights is not None else None
        self.register_buffer("class_weight", weight, persistent=weight is not None)

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        """Logits (B, C) for token ids (B, T) or features (B, T, F)."""
        if self.is_text:
            rank = 3 if self.subwords is not None else 2
            if not isinstance(x, Tensor) or x.dim() != rank or x.is_floating_point():
                got = f"{tuple(x.shape)} {x.dtype}" if isinstance(x, Tensor) else type(x).__name__
                want = "word and subword ids of shape (B, T, 1 + K)" if rank == 3 else \
                    "token ids of shape (B, T)"
                raise ValueError(f"{type(self).__name__}: expected {want} (integers), got {got}")
            grams = x[..., 1:] if rank == 3 else None  # (B, T, K) subword bucket ids
            x = x[..., 0] if rank == 3 else x  # (B, T) word ids
            if lengths is None:  # right-padded ids: count the non-padding ones
                lengths = (x != self.padding_idx).sum(1).clamp(min=1)
            lengths = torch.as_tensor(lengths)
            ids = x
            if self.training and self.word_dropout > 0:
                drop = torch.rand(x.shape, device=x.device) < self.word_dropout
                x = x.masked_fill(drop & (x != self.padding_idx), self.unk_idx)
            e = self.embedding(x)  # (B, T, E)
            if grams is not None:  # fastText's subword vectors: the mean of the n-grams'
                count = (grams > 0).sum(-1, keepdim=True).clamp(min=1)  # (B, T, 1)
                e = e + self.subwords(grams).sum(2) / count  # (B, T, K, E) -> (B, T, E)
        else:
            check_x(type(self).__name__, x, self.input_size)
            e, lengths = self.crop(x, lengths)  # (B, T', F): the identity in eval()
            if self.differences is not None:  # (B, T', 2F): values, then their changes
                e = self.differences(e, lengths)
            if self.downsample > 1:  # piecewise aggregate approximation: means of d steps
                e, lengths = self._paa(e, lengths)  # (B, ceil(T/d), F)
        e = self.input_dropout(e)
        if self.conv is not None:
            e, average = self.conv(e, lengths)  # (B, T, C), (B, C)
        outputs, final = self.rnn(e, lengths=lengths)  # (B, T, D*H)
        if self.pooling == "attention":
            v = self._attend(outputs, lengths)
        elif self.pooling == "max_mean":  # (B, 2*D*H)
            v = torch.cat([pool(p, outputs, final, lengths, self.rnn) for p in ("max", "mean")],
                          dim=1)
        else:
            v = pool(self.pooling, outputs, final, lengths, self.rnn)  # (B, D*H)
        if self.conv is not None:
            v = torch.cat([v, average], dim=1)  # (B, D*H + C)
        logits = self.head(self.dropout(v))  # (B, C)
        if self.ngrams is not None:
            logits = logits + self.ngram_scale * self.ngrams(ids, lengths)  # the n-gram expert
        return logits

    def _paa(self, x: Tensor, lengths: Tensor | None) -> tuple[Tensor, Tensor | None]:
        """Means of ``downsample`` consecutive real steps (the last window may be shorter)."""
        d, T = self.downsample, x.shape[1]
        mask = torch.ones(x.shape[0], 1, T, dtype=x.dtype, device=x.device)
        if lengths is not None:
            lengths = torch.as_tensor(lengths, device=x.device)
            mask = (torch.arange(T, device=x.device)[None, :] < lengths[:, None]).unsqueeze(1
                                                                                     ).to(x.dtype)
            lengths = torch.div(lengths + d - 1, d, rounding_mode="floor").cpu()
        total = F.avg_pool1d(x.transpose(1, 2) * mask, d, ceil_mode=True)  # (B, F, T/d)
        count = F.avg_pool1d(mask, d, ceil_mode=True).clamp(min=1e-12)  # (B, 1, T/d)
        return (total / count).transpose(1, 2), lengths

    def _attend(self, outputs: Tensor, lengths: Tensor | None) -> Tensor:
        scores = self.attention(outputs).squeeze(-1)  # (B, T)
        if lengths is not None:
            T = outputs.shape[1]
            lengths = torch.as_tensor(lengths, device=outputs.device)
            pad = torch.arange(T, device=outputs.device)[None, :] >= lengths[:, None]
            scores = scores.masked_fill(pad, float("-inf"))
        weights = torch.softmax(scores, dim=1)  # (B, T), zero on padding
        return torch.einsum("bt,btf->bf", weights, outputs)  # (B, D*H)

    def loss(self, logits: Tensor, target: Tensor) -> Tensor:
        """Cross-entropy, weighted by ``class_weights`` when given; pass it to ``rnnkit.fit``."""
        weight = self.class_weight.to(logits.dtype) if self.class_weight is not None else None
        smoothing = self.label_smoothing if self.training else 0.0
        return F.cross_entropy(logits, target, weight=weight, label_smoothing=smoothing)
