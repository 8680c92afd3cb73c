"""Demo part: sentiment where word order matters. Generated reviews whose polarity a negation
flips ("not good" is negative, "not bad" positive) — a bag of words cannot tell "good, not
bad" from "bad, not good"; a BiLSTM with max pooling learns it in a few seconds."""

from __future__ import annotations

from pathlib import Path

import numpy as np

GOOD = ["good", "great", "fun", "moving", "clever", "charming"]
BAD = ["bad", "dull", "boring", "awful", "silly", "flat"]
SUBJECTS = ["the film", "the plot", "the acting", "the script", "this movie", "the ending"]
FILLER = ["frankly", "overall", "honestly", "i think", "to me", "in the end"]


def make_reviews(n: int, seed: int) -> tuple[list[str], list[str]]:
    """Reviews of one or two clauses, each ``subject is [not] word``; the label is the
    polarity of the last clause (``but`` joins a contrasting first clause)."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []

    def clause(positive: bool) -> str:
        negate = bool(rng.integers(2))
        word = rng.choice(BAD if positive == negate else GOOD)  # "not bad" is positive
        return f"{rng.choice(SUBJECTS)} is {'not ' if negate else ''}{word}"

    for i in range(n):
        positive = bool(i % 2)
        text = clause(positive)
        if rng.random() < 0.5:
            text = f"{clause(not positive)} but {text}"
        if rng.random() < 0.5:
            text = f"{rng.choice(FILLER)} {text}"
        texts.append(text)
        labels.append("pos" if positive else "neg")
    return texts, labels


def _bag_of_words_accuracy(prep, texts, labels, test_texts, test_labels) -> float:
    """Word order ignored: multinomial naive Bayes on the same tokens (the contrast)."""
    from ..apps.classify import Examples
    from ..data.classification import make_loader
    from ..models.ngrams import NgramNaiveBayes

    nb = NgramNaiveBayes(1 << 16, prep.labels.num_classes, order=1)
    nb.fit((x, n, y) for (x, n), y in make_loader(prep.dataset(Examples(texts=texts,
                                                                         labels=labels)), 512))
    test = prep.dataset(Examples(texts=test_texts, labels=test_labels))
    right = sum(int((nb(x, n).argmax(1) == y).sum()) for (x, n), y in make_loader(test, 512))
    return right / len(test)


def run(out_dir, seed: int = 0, quiet: bool = False) -> None:
    from ..apps.classify import Config, Examples, load, train
    from ..apps.classify.report import write_report
    from ..metrics import format_confusion

    out_dir = Path(out_dir)
    data = out_dir / "classify-data"
    data.mkdir(parents=True, exist_ok=True)
    texts, labels = make_reviews(1200, seed)
    for cls in ("pos", "neg"):
        (data / f"{cls}.txt").write_text(
            "".join(t + "\n" for t, lab in zip(texts, labels, strict=True) if lab == cls),
            encoding="utf-8")
    ckpt = out_dir / "classify-model"
    config = Config(hidden_size=32, embedding_dim=32, epochs=4, batch_size=32, lr=5e-3,
                    dropout=0.2, embedding_dropout=0.1, patience=3, seed=seed)
    history = train(config, Examples(texts=texts, labels=labels), ckpt, device="cpu",
                    progress=False, time_budget=8)
    print(f"BiLSTM + max pooling on {len(texts)} generated reviews ({data}/pos.txt, neg.txt): "
          f"{len(history)} epochs in {history.seconds:.1f} s")
    clf = load(ckpt)
    test_texts, test_labels = make_reviews(400, seed + 1)
    report = clf.evaluate(test_texts, test_labels)
    print(f"fresh test reviews: accuracy {report['accuracy']:.3f}, macro-F1 "
          f"{report['macro_f1']:.3f}")
    print(format_confusion(report["confusion"], report["classes"]))
    bow = _bag_of_words_accuracy(clf.preprocessing, texts, labels, test_texts, test_labels)
    print(f"a bag of words on the same data (naive Bayes on unigrams): accuracy {bow:.3f}")
    png = out_dir / "classify-confusion.png"
    write_report(report, png)
    probes = ["the plot is not bad", "the plot is not good", "the acting is fun but the "
              "ending is not clever", "the ending is dull but the film is not boring"]
    for text, p in zip(probes, clf.predict(probes), strict=True):
        print(f"  {p['label']}  p(pos)={p['probs']['pos']:.2f}  {text!r}")
    print(f"wrote {png}; try: rnnkit classify predict --checkpoint {ckpt} --text \"the script "
          "is not dull\"")
