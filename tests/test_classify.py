"""Sequence classification: the model (padding invariance, bidirectional lengths vs torch,
pooling), data readers and their errors, metrics, and learning generated tasks."""

import numpy as np
import pytest
import torch

import rnnkit
from rnnkit.apps.classify import NGRAM_SCALES, Config, Examples, load, read_examples, train
from rnnkit.data.classification import (
    LabelEncoder,
    SequenceDataset,
    balanced_class_weights,
    collate,
    labels_from_file_names,
    read_text_csv,
    read_text_files,
    read_ucr,
    stratified_folds,
    stratified_split,
)
from rnnkit.metrics import (
    accuracy,
    classification_report,
    confusion_matrix,
    format_confusion,
    macro_f1,
    per_class_f1,
    plot_confusion,
)
from rnnkit.models import SequenceClassifier
from rnnkit.models.ngrams import NgramNaiveBayes
from rnnkit.models.text_classifier import POOLINGS, TextClassifier


def padded_batch(V=30, lengths=(9, 5, 3, 1), seed=0):
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randint(4, V, (len(lengths), max(lengths)), generator=g)
    lengths = torch.tensor(lengths)
    for i, n in enumerate(lengths):
        tokens[i, n:] = 0  # <pad>
    return tokens, lengths


# ------------------------------------------------------------------------------- model
@pytest.mark.parametrize("pooling", POOLINGS)
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_padding_invariance_text(double, pooling, cell):
    model = TextClassifier(vocab_size=30, hidden_size=6, num_classes=3, embedding_dim=5,
                           cell=cell, num_layers=2, pooling=pooling).eval()
    tokens, lengths = padded_batch()
    batch = model(tokens, lengths)
    alone = torch.cat([model(tokens[i:i + 1, :n]) for i, n in enumerate(lengths)])
    assert torch.allclose(batch, alone, atol=1e-12, rtol=0)
    # whatever sits in the padding is ignored when lengths are given
    noisy = tokens.clone()
    for i, n in enumerate(lengths):
        noisy[i, n:] = torch.randint(4, 30, (tokens.shape[1] - n,))
    assert torch.allclose(model(noisy, lengths), batch, atol=1e-12, rtol=0)
    # without lengths, token ids infer them from <pad>
    assert torch.allclose(model(tokens), batch, atol=1e-12, rtol=0)


def test_padding_invariance_float32_and_numeric():
    model = TextClassifier(vocab_size=30, hidden_size=8, num_classes=2).eval()
    tokens, lengths = padded_batch()
    alone = torch.cat([model(tokens[i:i + 1, :n]) for i, n in enumerate(lengths)])
    assert torch.allclose(model(tokens, lengths), alone, atol=1e-6, rtol=0)
    numeric = TextClassifier(3, 8, 2, pooling="attention").eval()
    x = torch.randn(4, 9, 3)
    alone = torch.cat([numeric(x[i:i + 1, :n]) for i, n in enumerate(lengths)])
    assert torch.allclose(numeric(x, lengths), alone, atol=1e-6, rtol=0)


def test_bidirectional_last_pooling_matches_torch_on_each_sequence(double):
    """The pooled 'last' vector is torch.nn.LSTM's (h_fwd at the last real token, h_bwd at the
    first), computed on each unpadded sequence alone: the backward pass starts at its end."""
    model = TextClassifier(vocab_size=30, hidden_size=5, num_classes=2, embedding_dim=4,
                           num_layers=2, pooling="last").eval()
    oracle = torch.nn.LSTM(4, 5, num_layers=2, bidirectional=True, batch_first=True).double()
    oracle.load_state_dict(model.rnn.torch_state_dict())
    tokens, lengths = padded_batch()
    captured = {}
    model.head.register_forward_hook(lambda m, inp, out: captured.update(v=inp[0]))
    model(tokens, lengths)
    for i, n in enumerate(lengths):
        _, (h, _) = oracle(model.embedding(tokens[i:i + 1, :n]))
        want = torch.cat([h[-2, 0], h[-1, 0]])  # top layer: forward, backward
        assert torch.allclose(captured["v"][i], want, atol=1e-12)


def test_ngram_buckets_never_cross_a_sequence_end():
    path = NgramNaiveBayes(num_buckets=1 << 20, num_classes=2, order=3)
    x, lengths = torch.tensor([[5, 6, 7, 0], [8, 9, 0, 0]]), torch.tensor([3, 2])
    ids, mask = path.buckets(x, lengths)
    # per row: 4 unigram starts, 3 bigram starts, 2 trigram starts
    assert mask.tolist() == [[1, 1, 1, 0, 1, 1, 0, 1, 0], [1, 1, 0, 0, 1, 0, 0, 0, 0]]
    real = ids[mask]
    assert len(set(real.tolist())) == len(real)  # distinct n-grams, distinct buckets here
    # the bigram (5, 6) hashes the same wherever it appears
    ids2, _ = path.buckets(torch.tensor([[1, 5, 6]]), torch.tensor([3]))
    assert ids[0, 4] == ids2[0, 4]


def test_ngram_expert_is_naive_bayes(double):
    """fit sets W[g] to the centred add-one log-likelihoods of binarised counts, by hand."""
    path = NgramNaiveBayes(num_buckets=1 << 20, num_classes=2, order=1).double()
    x, lengths, y = torch.tensor([[5, 6, 5], [5, 7, 0], [7, 0, 0]]), torch.tensor([3, 2, 1]), \
        torch.tensor([0, 0, 1])
    path.fit([(x, lengths, y)], alpha=1.0)
    G = path.num_buckets
    ids, _ = path.buckets(torch.tensor([[5, 6, 7]]), torch.tensor([3]))
    # class 0: 5 in two examples (the repeat counts once), 6 in one, 7 in one (4 in all);
    # class 1: 7 in one (1 in all)
    for token, (n0, n1) in zip(ids[0].tolist(), [(2, 0), (1, 0), (1, 1)], strict=True):
        lp0, lp1 = np.log((n0 + 1) / (4 + G)), np.log((n1 + 1) / (1 + G))
        want = [lp0 - (lp0 + lp1) / 2, lp1 - (lp0 + lp1) / 2]
        assert path.weight[token].tolist() == pytest.approx(want, abs=1e-12)
    assert path(torch.tensor([[5, 5, 6]]), torch.tensor([3]))[0].tolist() == pytest.approx(
        (path.weight[ids[0, 0]] + path.weight[ids[0, 1]]).tolist(), abs=1e-12)  # a set
    model = TextClassifier(vocab_size=30, hidden_size=4, num_classes=2, ngram_buckets=4096,
                           ngram_order=2).double().eval()
    torch.nn.init.normal_(model.ngrams.weight)
    model.ngram_scale.fill_(0.5)
    tokens, lengths = padded_batch()
    alone = torch.cat([model(tokens[i:i + 1, :n]) for i, n in enumerate(lengths)])
    assert torch.allclose(model(tokens, lengths), alone, atol=1e-12, rtol=0)


def test_max_and_mean_pooling_ignore_padding(double):
    model = TextClassifier(2, 4, 2, pooling="mean").eval()
    x, lengths = torch.randn(2, 6, 2), torch.tensor([6, 2])
    captured = {}
    model.head.register_forward_hook(lambda m, inp, out: captured.update(v=inp[0]))
    model(x, lengths)
    out, _ = model.rnn(x[1:, :2])
    assert torch.allclose(captured["v"][1], out[0].mean(0), atol=1e-12)
    model.pooling = "max"
    model(x, lengths)
    assert torch.allclose(captured["v"][1], out[0].amax(0), atol=1e-12)
    both = TextClassifier(2, 4, 2, pooling="max_mean").eval()
    both.rnn.load_state_dict(model.rnn.state_dict())
    assert both.head.in_features == 2 * 8  # max and mean of the 2 x 4 outputs
    both.head.register_forward_hook(lambda m, inp, out: captured.update(v=inp[0]))
    both(x, lengths)
    assert torch.allclose(captured["v"][1], torch.cat([out[0].amax(0), out[0].mean(0)]),
                          atol=1e-12)


def test_text_classifier_is_a_sequence_classifier_and_checks_input():
    model = TextClassifier(2, 8, 3)
    assert isinstance(model, SequenceClassifier)
    with pytest.raises(ValueError, match=r"TextClassifier: expected x of shape \(B, T, 2\), "
                                         r"got \(4, 5\)"):
        model(torch.randn(4, 5))
    text = TextClassifier(vocab_size=10, num_classes=2)
    with pytest.raises(ValueError, match=r"expected token ids of shape \(B, T\) \(integers\), "
                                         r"got \(2, 3, 1\) torch.float32"):
        text(torch.randn(2, 3, 1))
    with pytest.raises(ValueError, match="give exactly one of input_size"):
        TextClassifier(2, 8, 2, vocab_size=10)
    with pytest.raises(ValueError, match="unknown pooling 'sum'; expected one of last, mean, "
                                         "max, attention"):
        TextClassifier(2, 8, 2, pooling="sum")
    with pytest.raises(ValueError, match=r"class_weights must be 2 non-negative numbers"):
        TextClassifier(2, 8, 2, class_weights=[1.0])


def test_class_weights_weight_the_loss():
    model = TextClassifier(2, 4, 2, class_weights=[1.0, 3.0])
    logits, target = torch.randn(6, 2), torch.tensor([0, 1, 1, 0, 1, 0])
    want = torch.nn.functional.cross_entropy(logits, target, weight=torch.tensor([1.0, 3.0]))
    assert torch.allclose(model.loss(logits, target), want)
    assert balanced_class_weights(torch.tensor([0, 0, 0, 1]), 2) == pytest.approx([2 / 3, 2.0])


# -------------------------------------------------------------------------------- data
def test_collate_pads_right_and_keeps_lengths():
    data = SequenceDataset([[5, 6, 7], [8]], [1, 0])
    (x, lengths), y = collate([data[0], data[1]])
    assert x.tolist() == [[5, 6, 7], [8, 0, 0]] and lengths.tolist() == [3, 1]
    assert y.tolist() == [1, 0]
    (x, lengths), _ = collate(list(SequenceDataset([np.ones(4), np.ones(2)], [0, 1])))
    assert x.shape == (2, 4, 1) and x.dtype == torch.float32 and lengths.tolist() == [4, 2]


def test_labels_from_file_names():
    assert labels_from_file_names(["d/pos.txt", "d/neg.txt"]) == ["pos", "neg"]
    assert labels_from_file_names(["rt-polarity.pos", "rt-polarity.neg"]) == ["pos", "neg"]
    assert labels_from_file_names(["a/x.txt", "b/x.txt"]) == ["x.txt", "x.txt"]


def test_read_text_files_and_csv(tmp_path):
    (tmp_path / "good.txt").write_text("a fine film\n\nlovely\n", encoding="latin-1")
    (tmp_path / "bad.txt").write_text("caf\xe9 dull\n", encoding="latin-1")
    texts, labels = read_text_files([tmp_path / "good.txt", tmp_path / "bad.txt"],
                                    encoding="latin-1")
    assert texts == ["a fine film", "lovely", "caf\xe9 dull"]
    assert labels == ["good", "good", "bad"]
    with pytest.raises(ValueError, match=r"cannot decode .*bad.txt' as utf-8: byte 0xe9 at "
                                         r"offset 3; pass the file's encoding with --encoding"):
        read_text_files([tmp_path / "good.txt", tmp_path / "bad.txt"])
    (tmp_path / "d.csv").write_text('id,review,stars\n1,"great, really",5\n2,meh,2\n',
                                    encoding="utf-8")
    texts, labels = read_text_csv(tmp_path / "d.csv", "review", "stars")
    assert texts == ["great, really", "meh"] and labels == ["5", "2"]


def test_read_ucr_layouts(tmp_path):
    (tmp_path / "a.csv").write_text("1,0.5,0.25,0.125\n2,1,2,3\n")
    (tmp_path / "a.txt").write_text("  1.0000000e+00   5.0e-01  2.5e-01  1.25e-01\n"
                                    "  2.0000000e+00   1 2 3\n")
    (tmp_path / "a.tsv").write_text("1\t0.5\t0.25\t0.125\n2\t1\t2\t3\n")
    for name in ("a.csv", "a.txt", "a.tsv"):
        values, lengths, labels = read_ucr(tmp_path / name)
        assert values.tolist() == [[0.5, 0.25, 0.125], [1, 2, 3]], name
        assert lengths.tolist() == [3, 3] and labels == ["1", "2"], name
    (tmp_path / "var.csv").write_text("a,1,2,NaN\nb,4,5,6\n")
    values, lengths, labels = read_ucr(tmp_path / "var.csv")
    assert lengths.tolist() == [2, 3] and values[0].tolist() == [1, 2, 0] and labels == ["a", "b"]


def test_read_ucr_label_elsewhere(tmp_path):
    # heartbeats exported as "values, then the class" (no header), a header naming the label
    # column in the middle, and unlabelled rows for prediction
    (tmp_path / "last.csv").write_text("0.5,0.25,1\n1.5,2.5,0\n")
    values, lengths, labels = read_ucr(tmp_path / "last.csv", label="last")
    assert values.tolist() == [[0.5, 0.25], [1.5, 2.5]] and labels == ["1", "0"]
    (tmp_path / "named.csv").write_text("a,kind,b,c\n1,x,2,NaN\n4,y,5,6\n")
    values, lengths, labels = read_ucr(tmp_path / "named.csv", label="kind")
    assert values.tolist() == [[1, 2, 0], [4, 5, 6]] and lengths.tolist() == [2, 3]
    assert labels == ["x", "y"]
    values, lengths, labels = read_ucr(tmp_path / "last.csv", label="none")
    assert values.tolist() == [[0.5, 0.25, 1], [1.5, 2.5, 0]] and labels is None
    (tmp_path / "head.csv").write_text("v0,v1,label\n0.5,0.25,1\n")  # a header, label last
    assert read_ucr(tmp_path / "head.csv", label="last")[2] == ["1"]
    with pytest.raises(ValueError, match=r"column 'label' \(--label-col\) not found in the "
                                         r"first row of .*last.csv, 0.5, 0.25, 1; .*--label-col "
                                         r"first or last"):
        read_ucr(tmp_path / "last.csv", label="label")


def test_read_ucr_refuses_measurements_where_the_labels_should_be(tmp_path):
    # a label-last file read in the archive's layout would train a class per row
    rows = [",".join(f"{(i * 7 + j) % 11 / 10:.2f}" for j in range(5)) + f",{i % 2}"
            for i in range(10)]
    (tmp_path / "x.csv").write_text("\n".join(rows) + "\n")
    with pytest.raises(ValueError, match=r"x.csv: the first column, where this layout keeps "
                                         r"each series' label, holds \d+ different numbers for "
                                         r"10 series .*--label-col last"):
        read_ucr(tmp_path / "x.csv")
    assert len(set(read_ucr(tmp_path / "x.csv", label="first")[2])) > 5  # as asked
    assert read_ucr(tmp_path / "x.csv", label="last")[2] == ["0", "1"] * 5
    # whole-number codes and named classes are labels, however many
    (tmp_path / "codes.csv").write_text("".join(f"{i}.0,0.5,0.25\n" for i in range(10)))
    assert read_ucr(tmp_path / "codes.csv")[2] == [str(i) for i in range(10)]


@pytest.mark.parametrize("content, message", [
    ("1,1,2,3\n2,1,2\n", r"ragged rows in .*r.csv: line 2 has 2 values, line 1 has 3; every "
                         r"series must have the same number of columns \(pad shorter series "
                         r"with trailing NaN\)"),
    ("1,1,NaN,3\n", r"r.csv line 1: missing or infinite value inside the series \(only "
                    r"trailing NaN padding is allowed\)"),
    ("1,1,x,3\n2,1,2,3\n", r"r.csv line 1: 'x' is not a number"),
    ("\n\n", r"r.csv is empty"),
])
def test_read_ucr_errors(tmp_path, content, message):
    (tmp_path / "r.csv").write_text(content)
    with pytest.raises(ValueError, match=message):
        read_ucr(tmp_path / "r.csv")


def test_read_errors(tmp_path):
    (tmp_path / "d.csv").write_text("text,label\nfine,pos\n,neg\n")
    with pytest.raises(ValueError, match=r"column 'sentiment' \(--label-col\) not found in .*; "
                                         r"its columns are: text, label"):
        read_text_csv(tmp_path / "d.csv", "text", "sentiment")
    with pytest.raises(ValueError, match=r"empty text in column 'text' at line 3 of"):
        read_text_csv(tmp_path / "d.csv", "text", "label")
    (tmp_path / "blank.txt").write_text("\n  \n")
    (tmp_path / "ok.txt").write_text("fine\n")
    with pytest.raises(ValueError, match=r"blank.txt' holds no examples \(every line is empty\)"):
        read_text_files([tmp_path / "ok.txt", tmp_path / "blank.txt"])
    with pytest.raises(ValueError, match=r"empty text \(example 2\)"):
        Examples(texts=["fine", "  "])
    with pytest.raises(ValueError, match="expected exactly one input"):
        read_examples(csv=tmp_path / "d.csv", ucr=tmp_path / "d.csv")


def test_label_encoder():
    enc = LabelEncoder().fit(["10", "9", "2", "9"])
    assert enc.classes == ["2", "9", "10"]  # numbers sort as numbers
    assert enc.encode(["9", "10"]).tolist() == [1, 2] and enc.decode([0, 2]) == ["2", "10"]
    assert LabelEncoder.from_dict(enc.to_dict()).classes == enc.classes
    with pytest.raises(ValueError, match=r"label\(s\) never seen in training: '7'; the model "
                                         r"knows 2, 9, 10"):
        enc.encode(["9", "7"])
    with pytest.raises(ValueError, match=r"expected at least 2 classes to learn from, got only "
                                         r"'pos' \(3 examples\)"):
        LabelEncoder().fit(["pos"] * 3)
    # a row-number column read as the labels (a pandas index written first)
    with pytest.raises(ValueError, match=r"every one of the 8 examples has a label of its own "
                                         r"\(0, 1, 2, ...\), so no class has two examples"):
        LabelEncoder().fit([str(i) for i in range(8)])
    assert LabelEncoder().fit([str(i) for i in range(7)]).num_classes == 7


def test_stratified_folds_and_split():
    y = np.array([0] * 30 + [1] * 10)
    folds = stratified_folds(y, 5, seed=1)
    assert sorted(np.concatenate(folds).tolist()) == list(range(40))
    assert all((y[f] == 1).sum() == 2 and len(f) == 8 for f in folds)
    keep, held = stratified_split(y, 0.2, seed=0)
    assert len(held) == 8 and (y[held] == 1).sum() == 2 and not set(keep) & set(held)


# ----------------------------------------------------------------------------- metrics
def test_metrics_by_hand(tmp_path):
    target, pred = [0, 0, 1, 1, 2, 2], [0, 1, 1, 1, 0, 2]
    cm = confusion_matrix(target, pred, num_classes=3)
    assert cm.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert accuracy(target, pred) == pytest.approx(4 / 6)
    # class 0: P=1/2 R=1/2 F=1/2; class 1: P=2/3 R=1 F=0.8; class 2: P=1 R=1/2 F=2/3
    assert per_class_f1(cm).tolist() == pytest.approx([0.5, 0.8, 2 / 3])
    assert macro_f1(cm) == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)
    # a class absent from targets and predictions is left out of the mean (scikit-learn's)
    assert macro_f1(np.array([[5, 0, 0], [0, 0, 0], [0, 0, 0]])) == 1.0
    assert macro_f1(np.array([[3, 1, 0], [0, 0, 0], [0, 0, 0]])) == pytest.approx((6 / 7 + 0) / 2)
    assert macro_f1(np.zeros((2, 2), dtype=int)) == 0.0
    assert per_class_f1(confusion_matrix([0, 0], [0, 0], 2)).tolist() == [1.0, 0.0]
    report = classification_report(target, pred, ["a", "b", "c"])
    assert report["n"] == 6 and report["confusion"] == cm.tolist()
    assert format_confusion(cm, ["a", "b", "c"]).splitlines()[1].split() == ["a", "1", "1", "0"]
    plot_confusion(cm, ["a", "b", "c"], tmp_path / "cm.png")
    assert (tmp_path / "cm.png").read_bytes()[:4] == b"\x89PNG"


# ---------------------------------------------------------------------------- learning
def keyword_texts(n: int, seed: int):
    """Random filler words with one class keyword somewhere: separable, variable lengths."""
    rng = np.random.default_rng(seed)
    filler = [f"w{i}" for i in range(40)]
    keys = {"pos": ["good", "great", "fine"], "neg": ["bad", "awful", "dull"]}
    texts, labels = [], []
    for i in range(n):
        label = "pos" if i % 2 else "neg"
        words = list(rng.choice(filler, size=rng.integers(2, 12)))
        words.insert(int(rng.integers(0, len(words) + 1)), str(rng.choice(keys[label])))
        texts.append(" ".join(words))
        labels.append(label)
    return texts, labels


def test_learns_a_separable_text_task(tmp_path):
    texts, labels = keyword_texts(400, seed=0)
    history = train(Config(hidden_size=16, embedding_dim=16, epochs=5, lr=1e-2),
                    Examples(texts=texts, labels=labels), tmp_path / "ck", progress=False)
    test_texts, test_labels = keyword_texts(200, seed=1)
    clf = rnnkit.open(tmp_path / "ck")
    assert clf.task == "classify" and clf.config.epochs == 5 and clf.config.cell == "lstm"
    report = clf.evaluate(test_texts, test_labels)
    assert report["accuracy"] >= 0.95, report
    # the loaded model predicts exactly what the trained one does
    predicted = clf.predict(test_texts[:5])
    assert set(predicted[0]) == {"label", "probs"} and set(predicted[0]["probs"]) == {"neg", "pos"}
    history.model.eval()
    trained = torch.softmax(history.model(*next(iter(_batches(history, test_texts[:5])))), -1)
    assert np.allclose(clf.predict_proba(test_texts[:5]), trained.detach().numpy(), atol=1e-6)
    assert [p["label"] for p in predicted] == [clf.classes[i] for i in trained.argmax(1)]


def _batches(history, texts):
    from rnnkit.data.classification import make_loader

    dataset = history.preprocessing.dataset(Examples(texts=texts), with_labels=False)
    return (inputs for inputs, _ in make_loader(dataset, 256))


def test_ngram_expert_is_counted_with_and_without_held_out_data():
    texts, labels = keyword_texts(200, seed=0)
    for val_fraction, scales in ((0.0, {1.0}), (0.2, set(NGRAM_SCALES))):
        history = train(Config(hidden_size=8, embedding_dim=8, epochs=1, ngram_buckets=1 << 12,
                               val_fraction=val_fraction), Examples(texts=texts, labels=labels),
                        progress=False)
        model = history.model
        assert model.ngrams.weight.abs().sum() > 0  # the counts were taken
        assert float(model.ngram_scale) in scales
        assert (history.val_accuracy is None) == (val_fraction == 0.0)


def ucr_series(n: int, T: int, seed: int) -> tuple[np.ndarray, list[str]]:
    """Class 1: a bump in the first half; class 2: in the second half; plus noise."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 0.3, (n, T))
    labels = []
    for i in range(n):
        c = 1 + i % 2
        start = rng.integers(0, T // 2 - 5) + (T // 2 if c == 2 else 0)
        x[i, start:start + 5] += 3.0
        labels.append(str(c))
    return x, labels


def write_ucr(path, x, labels, sep=","):
    with open(path, "w") as f:
        for row, label in zip(x, labels, strict=True):
            f.write(sep.join([f"{float(label):.7e}" if sep == " " else label]
                             + [f"{v:.5f}" for v in row]) + "\n")


def test_numeric_sequences_through_the_ucr_layout(tmp_path):
    x, labels = ucr_series(240, 30, seed=0)
    write_ucr(tmp_path / "TRAIN.csv", x, labels)
    xt, labels_t = ucr_series(100, 30, seed=1)
    write_ucr(tmp_path / "TEST.txt", xt, labels_t, sep=" ")
    train_ex = read_examples(ucr=tmp_path / "TRAIN.csv")
    assert train_ex.values.shape == (240, 30, 1) and train_ex.labels[:2] == ["1", "2"]
    train(Config(hidden_size=16, conv_channels=8, epochs=8, batch_size=32, lr=1e-2), train_ex,
          tmp_path / "ck", progress=False)
    clf = load(tmp_path / "ck")
    prep = clf.preprocessing
    assert prep.kind == "numeric" and prep.labels.classes == ["1", "2"]
    assert clf.config.cell == "gru" and clf.config.pooling == "attention"  # numeric defaults
    report = clf.evaluate(read_examples(ucr=tmp_path / "TEST.txt"))
    assert report["accuracy"] >= 0.95, report


# ---------------------------------------------------------------------------- real data
@pytest.mark.slow
def test_movie_review_one_fold():
    """MR (Pang & Lee 2005), fold 0 of benchmarks/mr.py's 10 folds: above CNN-rand's 76.1 %."""
    import os
    from pathlib import Path

    root = Path(os.environ.get("RNNKIT_DATA", Path(__file__).resolve().parents[2] / "shared"
                               / "data")) / "mr"
    if not (root / "rt-polarity.pos").is_file():
        pytest.skip(f"MR data not found under {root} (set RNNKIT_DATA)")
    texts, labels = read_text_files([root / "rt-polarity.pos", root / "rt-polarity.neg"],
                                    encoding="latin-1")
    y = LabelEncoder().fit(labels).encode(labels).numpy()
    test = stratified_folds(y, 10, seed=0)[0]
    rest = np.setdiff1d(np.arange(len(y)), test)  # (not "train": that is the function)
    # the single-model setting of BENCHMARKS.md's 10-fold run (fold 0 there: 77.04 %)
    config = Config(batch_size=64, lr=2e-3, word_dropout=0.1, subword_buckets=16384,
                    label_smoothing=0.1, schedule="cosine", optimizer="adamw", weight_decay=0.01)
    history = train(config, Examples(texts=[texts[i] for i in rest],
                                              labels=[labels[i] for i in rest]),
                    progress=False)
    clf = rnnkit.apps.classify.ClassifyPredictor(history.model, config,
                                                 history.preprocessing)
    report = clf.evaluate([texts[i] for i in test], [labels[i] for i in test])
    assert report["accuracy"] > 0.761, report
