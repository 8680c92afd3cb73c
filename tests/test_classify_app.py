"""The classify application's shape: Config checks, kind defaults, ensembles, subwords, the
conv front end, 0.1.0 checkpoints through ``rnnkit.open``, and resuming a run."""

import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

import rnnkit
from rnnkit.apps.classify import Config, Examples, Preprocessing, load, train
from rnnkit.apps.classify.config import KIND_DEFAULTS, numeric_crop_default
from rnnkit.data.classification import subword_ids
from rnnkit.models.conv_frontend import ConvFrontEnd
from rnnkit.models.ensemble import ClassifierEnsemble
from rnnkit.models.text_classifier import TextClassifier

FIXTURE = Path(__file__).parent / "fixtures" / "v0_1_0" / "classify"
TINY = dict(hidden_size=6, embedding_dim=8, epochs=2, batch_size=8, lr=1e-2)


def reviews(n=40):
    good, bad = ["great", "lovely", "fine"], ["awful", "dull", "boring"]
    texts = [f"the film was {(good if i % 2 else bad)[i % 3]}" for i in range(n)]
    return Examples(texts=texts, labels=["pos" if i % 2 else "neg" for i in range(n)])


def shifted_series(n: int, steps: int, seed: int, shift: float = 2.0) -> Examples:
    """``n`` noisy series of ``steps`` steps, the odd ones (class "b") shifted up."""
    values = np.random.default_rng(seed).normal(0, 1, (n, steps)).astype(np.float32)
    values[1::2] += shift
    return Examples(values=values, labels=["b" if i % 2 else "a" for i in range(n)])


@pytest.mark.parametrize("field, value, message", [
    ("cell", "tcn", "classify Config: cell must be one of lstm, gru, rnn, got 'tcn'"),
    ("ensemble", 0, "classify Config: ensemble must be a positive integer, got 0"),
    ("dropout", 1.0, r"classify Config: dropout must lie in \[0, 1\), got 1.0"),
    ("subword_buckets", -1, "classify Config: subword_buckets must be 0 \\(off\\) or a positive"),
    ("lr", 0.0, "classify Config: lr must be a positive number, got 0.0"),
    ("class_weights", "heavy", "classify Config: class_weights must be none, balanced or"),
    ("normalize", "minmax", "classify Config: normalize must be one of auto, global, series, none"),
    ("ema", 1.0, r"classify Config: ema must lie in \[0, 1\), got 1.0"),
    ("refit", "yes", "classify Config: refit must be true or false, got 'yes'"),
    ("warm_restarts", 1, "classify Config: warm_restarts must be true or false, got 1"),
    ("conv_dilation", 0, "classify Config: conv_dilation must be a positive integer, got 0"),
])
def test_config_check_names_field_and_value(field, value, message):
    with pytest.raises(ValueError, match=message):
        Config(**{field: value}).check()


def test_kind_defaults_fill_only_unset_fields():
    text, numeric = Config(lr=0.5).resolved("text"), Config(lr=0.5).resolved("numeric")
    assert text.lr == numeric.lr == 0.5
    assert (text.cell, text.pooling, text.epochs) == ("lstm", "max", 10)
    assert {k: getattr(numeric, k) for k in KIND_DEFAULTS["numeric"] if k != "lr"} == {
        k: v for k, v in KIND_DEFAULTS["numeric"].items() if k != "lr"}


def test_numeric_defaults_follow_the_training_set_size():
    """Five networks of 150 epochs on small numeric sets, more epochs where 150 would be under
    2,000 optimizer steps, one network above 1,000 series, and fewer epochs once 150 of them
    would see more than 300,000 examples; text keeps one model; a setting given is kept
    whatever the size."""
    assert Config().resolved("text", 50).ensemble == 1
    plan = {n: (c.ensemble, c.epochs) for n in (2, 20, 100, 200, 213, 537, 1000, 1001, 2000,
                                                2001, 4000, 70_000, 10_000_000)
            for c in [Config().resolved("numeric", n)]}
    assert plan == {2: (5, 2000), 20: (5, 1000), 100: (5, 286), 200: (5, 154), 213: (5, 150),
                    537: (5, 150), 1000: (5, 150), 1001: (1, 150), 2000: (1, 150),
                    2001: (1, 150), 4000: (1, 75), 70_000: (1, 5), 10_000_000: (1, 3)}
    # the steps counted in the batches given: 100 series in 50s are 2 a epoch
    assert Config(batch_size=50).resolved("numeric", 100).epochs == 1000
    # a held-out share trains on fewer series, so more epochs reach the same steps: 200 series
    # less 25 % are 150 in 10 batches an epoch; the ensemble still follows the set's size
    held = Config(val_fraction=0.25).resolved("numeric", 200)
    assert (held.ensemble, held.epochs) == (5, 200)
    assert Config().resolved("numeric").ensemble == 5  # size unknown: the small-set defaults
    given = Config(ensemble=2, epochs=7).resolved("numeric", 70_000)
    assert (given.ensemble, given.epochs) == (2, 7)


def test_a_small_numeric_set_trains_five_networks_by_default(tmp_path, capsys):
    ex = shifted_series(12, 20, seed=2)
    history = train(Config(hidden_size=4, conv_channels=4, epochs=1), ex, tmp_path / "ck",
                    progress=True)
    assert history.config.ensemble == 5 and len(history.model.members) == 5
    said = [line for line in capsys.readouterr().err.splitlines() if "model" in line]
    assert said[0] == "classify: model 1 of 5 (seed 0)"  # then the time the rest will take
    assert [re.sub(r"about \d\d:\d\d", "about mm:ss", line) for line in said[1:]] == [
        f"classify: model {k + 1} of 5 (seed {100 * k}; about mm:ss left for "
        f"{'it' if k == 4 else f'models {k + 1} to 5'})" for k in range(1, 5)]
    clf = load(tmp_path / "ck")
    assert clf.config.ensemble == 5 and len(clf.model.members) == 5
    again = train(Config(hidden_size=4, conv_channels=4, epochs=1), ex, tmp_path / "ck",
                  progress=False, resume=True)  # the same data resolves the same way
    assert again.already_finished and again.config.ensemble == 5


def test_ensemble_averages_member_probabilities(tmp_path):
    history = train(Config(ensemble=2, val_fraction=0.2, **TINY), reviews(20), tmp_path / "ck",
                    progress=False)
    model = history.model
    assert isinstance(model, ClassifierEnsemble) and len(model.members) == 2
    assert sorted({r["member"] for r in history.rows}) == [0, 1]
    assert len(history.best_epochs) == 2 and history.val_accuracy is not None
    # seeds seed, seed + 100, ... give different members
    w = [m.head.weight for m in model.members]
    assert not torch.equal(w[0], w[1])
    x, lengths = torch.randint(4, 10, (4, 5)), torch.tensor([5, 3, 2, 1])
    mean = torch.stack([torch.softmax(m(x, lengths), -1) for m in model.members]).mean(0)
    assert torch.allclose(model(x, lengths).exp(), mean, atol=1e-6)
    clf = rnnkit.open(tmp_path / "ck")  # a registered model: rnnkit.load rebuilds it
    assert isinstance(clf.model, ClassifierEnsemble) and clf.config.ensemble == 2
    texts = ["the film was great", "the film was dull"]
    probs = np.mean([load_member_probs(m, clf, texts) for m in model.members], axis=0)
    assert np.allclose(clf.predict_proba(texts), probs, atol=1e-6)
    assert not (tmp_path / "ck" / "members").exists()  # finished: the per-member runs go


def load_member_probs(member, clf, texts):
    from rnnkit.data.classification import make_loader

    dataset = clf.preprocessing.dataset(Examples(texts=texts), with_labels=False)
    (x, n), _ = next(iter(make_loader(dataset, 256)))
    return torch.softmax(member.eval()(x, n), -1).detach().numpy()


def test_subwords_give_unseen_words_a_vector():
    ids = subword_ids("fun", 1000)
    assert len(ids) == 24 and ids[6:] == [0] * 18 and all(1 <= i <= 1000 for i in ids[:6])
    assert subword_ids("fun", 1000) == ids  # "<fu", "fun", "un>", "<fun", "fun>", "<fun>"
    history = train(Config(subword_buckets=256, **TINY), reviews(), progress=False)
    prep, model = history.preprocessing, history.model.eval()
    assert model.subwords.num_embeddings == 257
    (row,) = prep.dataset(Examples(texts=["greatest zzz"]), with_labels=False).sequences
    assert row.shape == (2, 25) and row[0, 0] == 1 and row[1, 0] == 1  # both unknown words
    assert row[0, 1:].count_nonzero() > 0  # but their n-grams are there
    a, b = (model(prep.dataset(Examples(texts=[t]), with_labels=False).sequences[0][None])
            for t in ("greatest", "zzzzzzzz"))
    assert not torch.allclose(a, b)  # two unknown words, two different inputs


def test_label_smoothing_only_while_training():
    model = TextClassifier(vocab_size=20, hidden_size=4, num_classes=2, label_smoothing=0.2)
    logits, target = torch.tensor([[4.0, -4.0]]), torch.tensor([0])
    smooth = model.train().loss(logits, target)
    plain = model.eval().loss(logits, target)
    assert torch.isclose(plain, torch.nn.functional.cross_entropy(logits, target))
    assert smooth > plain


@pytest.mark.parametrize("dilation", [1, 3])
def test_conv_front_end_ignores_padding(double, dilation):
    model = TextClassifier(3, 5, 4, conv_channels=6, cell="gru", pooling="attention",
                           downsample=2, conv_dilation=dilation).double().eval()
    x, lengths = torch.randn(3, 12, 3), torch.tensor([12, 7, 4])
    x[1, 7:] = 0
    x[2, 4:] = 0
    batch = model(x, lengths)
    alone = torch.cat([model(x[i:i + 1, :n]) for i, n in enumerate(lengths)])
    assert torch.allclose(batch, alone, atol=1e-10)
    z, g = ConvFrontEnd(3, 6).eval()(torch.randn(2, 9, 3))
    assert z.shape == (2, 9, 6) and g.shape == (2, 6)


@pytest.mark.parametrize("dilation, reach", [(1, 6), (4, 27)])
def test_conv_dilation_widens_the_receptive_field(dilation, reach):
    """Block i's taps are dilation^i apart: a step reaches 3 + 2d + d² steps either way."""
    torch.manual_seed(0)
    front = ConvFrontEnd(1, 4, dilation).eval()
    x = torch.randn(1, 101, 1)
    bumped = x.clone()
    bumped[0, 50] += 1.0
    changed = ((front(bumped)[0] - front(x)[0]).abs().amax(-1)[0] > 0).nonzero().ravel()
    assert changed.min() >= 50 - reach and changed.max() <= 50 + reach
    assert (changed - 50).abs().max() > reach - 3  # and it does reach that far
    with pytest.raises(ValueError, match="ConvFrontEnd: dilation must be a positive integer"):
        ConvFrontEnd(1, 4, 0)


def test_numeric_normalisations_and_paa(tmp_path):
    rng = np.random.default_rng(0)
    values = rng.normal(0, 1, (24, 300)).astype(np.float32)
    labels = ["up" if i % 2 else "down" for i in range(24)]
    values[1::2] += np.linspace(0, 4, 300, dtype=np.float32)
    values += rng.normal(0, 50, (24, 1)).astype(np.float32)  # offsets per series
    history = train(Config(hidden_size=4, conv_channels=4, conv_dilation=2, epochs=3,
                           max_steps=100, normalize="series", ensemble=1),
                    Examples(values=values, labels=labels), tmp_path / "ck", progress=False)
    clf = load(tmp_path / "ck")
    assert clf.model.config["downsample"] == 3 and clf.model.config["conv_channels"] == 4
    assert clf.model.config["conv_dilation"] == 2
    assert clf.preprocessing.normalize == "series"
    z = clf.preprocessing.scale(values[0][:, None])
    assert abs(z.mean()) < 1e-5 and abs(z.std() - 1) < 1e-4
    # the default, "global": one mean/std from the training steps, a series' offset kept
    prep = Preprocessing.fit(Examples(values=values, labels=labels))
    assert Config().normalize == "auto" and prep.normalize == "global"  # sizes alike
    real = values.ravel()
    z = prep.scale(values[0][:, None])
    assert np.allclose(z, (values[0][:, None] - real.mean()) / real.std(), atol=1e-4)
    assert history.val_accuracy is None  # numeric default: no held-out part
    out = clf.predict([values[0], values[1][:200]])  # a list of series of any lengths
    assert [set(p["probs"]) for p in out] == [{"down", "up"}] * 2


def test_series_of_very_different_sizes_are_normalised_each_by_its_own(tmp_path):
    """normalize="auto": where the series' own stds span > SCALE_SPREAD (PLAID's appliances,
    0.02 A to 300 A), one global std would squash the small ones flat: "series" instead."""
    rng = np.random.default_rng(1)
    t = np.linspace(0, 4 * np.pi, 60, dtype=np.float32)
    sizes = 10.0 ** rng.uniform(-3, 2, 32)  # five orders of magnitude
    values = np.stack([a * (np.sin(t) if i % 2 else np.sign(np.sin(t)))
                       for i, a in enumerate(sizes)]).astype(np.float32)
    values[0] = 0.0  # a flat series
    labels = ["sine" if i % 2 else "square" for i in range(32)]
    ex = Examples(values=values, labels=labels)
    assert Preprocessing.fit(ex).normalize == "series"
    assert Preprocessing.fit(ex, normalize="global").normalize == "global"  # asked for: kept
    alike = Examples(values=values / sizes[:, None].astype(np.float32), labels=labels)
    assert Preprocessing.fit(alike).normalize == "global"  # the same shapes, sizes alike
    train(Config(hidden_size=4, conv_channels=4, epochs=2), ex, tmp_path / "ck", progress=False)
    clf = load(tmp_path / "ck")
    assert clf.preprocessing.normalize == "series"  # saved resolved: predict scales the same
    z = clf.preprocessing.scale(values[3][:, None])
    assert abs(z.mean()) < 1e-5 and abs(z.std() - 1) < 1e-4
    assert len(clf.predict([values[1], values[2][:30]])) == 2


def test_weight_average_by_hand():
    """WeightAverage: a <- d a + (1 - d) w per step (d = min(decay, n/(n+1))), swapped in after an epoch's
    last step for validation, the live weights back at epoch_end, the average kept at the end."""
    from rnnkit.apps.classify.training import WeightAverage
    from rnnkit.train import History

    model = torch.nn.Linear(1, 1, bias=False)
    w = model.weight
    with torch.no_grad():
        w.fill_(1.0)
    average = WeightAverage(model, 0.6, steps_per_epoch=2, epochs=2)
    # the weights 1 (initial), 3, 5, 7, 9 after each step; d = 0.5 (their mean), then 0.6
    averages = [(1 + 3) / 2, 0.6 * 2 + 0.4 * 5, 0.6 * 3.2 + 0.4 * 7, 0.6 * 4.72 + 0.4 * 9]
    for n, (epoch, step, value) in enumerate(((1, 1, 3.0), (1, 2, 5.0), (2, 1, 7.0),
                                              (2, 2, 9.0))):
        with torch.no_grad():
            w.fill_(value)  # what an optimizer step would have left
        average("batch_end", {"epoch": epoch, "step": step})
        assert average.shadow[0].item() == pytest.approx(averages[n])
        assert w.item() == pytest.approx(averages[n] if step == 2 else value)  # validated
        if step == 2:
            average("epoch_end", {"epoch": epoch, "history": History()})
            # after epoch 1 training goes on from the live weights; after the last, the average
            assert w.item() == pytest.approx(value if epoch == 1 else averages[n])


def test_ema_model_is_the_validated_and_saved_one(tmp_path):
    tiny = {**TINY, "epochs": 3, "val_fraction": 0.25}
    history = train(Config(ema=0.9, **tiny), reviews(), tmp_path / "ck", progress=False)
    plain = train(Config(**tiny), reviews(), progress=False)
    assert not torch.equal(history.model.head.weight, plain.model.head.weight)
    best = history.rows[history.best_epoch - 1]
    assert history.val_accuracy == pytest.approx(best["val_accuracy"])  # the kept = validated
    clf = rnnkit.open(tmp_path / "ck")
    assert clf.config.ema == 0.9 and Config().resolved("text").ema == 0.0
    texts = ["the film was great", "so dull"]
    assert np.allclose(clf.predict_proba(texts), load_member_probs(history.model, clf, texts),
                       atol=1e-6)


def test_refit_retrains_on_every_example_for_the_chosen_epochs(tmp_path):
    tiny = {**TINY, "epochs": 4, "val_fraction": 0.25, "patience": 1, "ngram_buckets": 64}
    plain = train(Config(**tiny), reviews(), progress=False)
    refit = train(Config(refit=True, **tiny), reviews(), tmp_path / "ck", progress=False)
    # the first fit is the same run: same epochs chosen, same held-out figure and n-gram weight
    assert refit.best_epochs == plain.best_epochs and refit.val_accuracy == plain.val_accuracy
    assert float(refit.model.ngram_scale) == float(plain.model.ngram_scale)
    best = plain.best_epochs[0]
    assert [r["epoch"] for r in refit.rows if r.get("refit")] == list(range(1, best + 1))
    # oracle: every example, no held-out part, `best` epochs (a constant learning rate, so
    # stopping early is the same as fewer epochs)
    oracle = train(Config(**{**tiny, "epochs": best, "val_fraction": 0.0}), reviews(),
                   progress=False)
    oracle.model.ngram_scale.fill_(float(plain.model.ngram_scale))
    texts = ["the film was great", "so dull", "fine"]
    assert np.allclose(rnnkit.open(tmp_path / "ck").predict_proba(texts),
                       load_member_probs(oracle.model, rnnkit.open(tmp_path / "ck"), texts),
                       atol=1e-6)
    assert rnnkit.open(tmp_path / "ck").config.refit is True
    # without a held-out part there is nothing to refit on
    alone = train(Config(refit=True, **{**tiny, "val_fraction": 0.0}), reviews(), progress=False)
    assert not any(r.get("refit") for r in alone.rows)


def test_v0_1_0_checkpoint_opens_and_predicts_the_same():
    if not (FIXTURE / "config.json").is_file():
        pytest.skip("no 0.1.0 classify fixture")
    expected = json.loads((FIXTURE / "predictions.json").read_text())
    clf = rnnkit.open(FIXTURE)
    assert clf.task == "classify" and clf.classes == expected["classes"]
    assert np.allclose(clf.predict_proba(expected["texts"]), expected["probs"], atol=1e-6)


def test_warm_restarts_start_each_model_from_the_last_ones_weights():
    """Snapshot ensembles: with a learning rate too small to move the weights, the second
    model ends where the first did; without warm restarts it starts from its own seed."""
    still = {**TINY, "lr": 1e-12}
    for warm in (True, False):
        model = train(Config(ensemble=2, val_fraction=0.0, warm_restarts=warm, **still),
                      reviews(20), progress=False).model
        first, second = (torch.cat([p.detach().flatten() for p in m.parameters()])
                         for m in model.members)
        assert torch.allclose(first, second, atol=1e-6) == warm


def test_warm_restarts_leave_the_ngram_expert_behind(monkeypatch):
    """Each model's RNN trains alone (n-gram scale 0), a warm-started one too."""
    import rnnkit.train

    fit, scales = rnnkit.train.fit, []  # _fit_member imports fit when it runs

    def spy(model, *args, **kwargs):
        scales.append(float(model.ngram_scale))
        return fit(model, *args, **kwargs)

    monkeypatch.setattr(rnnkit.train, "fit", spy)
    train(Config(ensemble=2, val_fraction=0.0, warm_restarts=True, ngram_buckets=64, **TINY),
          reviews(20), progress=False)
    assert scales == [0.0, 0.0]


def _train_cut_short(config, folder, monkeypatch, examples=None):
    """Train ``config`` (2 or more members) on ``examples`` (default ``reviews()``) into
    ``folder``, the run dying as the second member starts: what ``--resume`` then continues."""
    from rnnkit.apps.classify import training

    real, calls = training._fit_member, []

    def interrupted(config, *args, **kwargs):
        calls.append(config.seed)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(config, *args, **kwargs)

    monkeypatch.setattr(training, "_fit_member", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train(config, reviews() if examples is None else examples, folder, progress=False)
    monkeypatch.setattr(training, "_fit_member", real)


@pytest.mark.parametrize("warm", [False, True])
def test_resume_continues_an_interrupted_ensemble(tmp_path, monkeypatch, warm):
    config = Config(ensemble=2, val_fraction=0.0, warm_restarts=warm, **TINY)
    full = train(config, reviews(), tmp_path / "full", progress=False)
    _train_cut_short(config, tmp_path / "cut", monkeypatch)
    assert (tmp_path / "cut" / "members" / "0" / "resume").is_dir()
    resumed = train(config, reviews(), tmp_path / "cut", resume=True, progress=False)
    assert [r["member"] for r in resumed.rows] == [r["member"] for r in full.rows]
    texts = ["the film was fine", "so dull"]
    assert np.allclose(rnnkit.open(tmp_path / "full").predict_proba(texts),
                       rnnkit.open(tmp_path / "cut").predict_proba(texts), atol=1e-6)


def test_resume_continues_the_numeric_default_ensemble(tmp_path, monkeypatch):
    """The default's five networks (resolved from the data's size, not given) resume like an
    explicit ensemble: the run dies as the second starts, --resume ends with the same model."""
    ex = shifted_series(10, 12, seed=4, shift=1.5)
    config = Config(hidden_size=4, conv_channels=4, epochs=2)
    full = train(config, ex, tmp_path / "full", progress=False)
    _train_cut_short(config, tmp_path / "cut", monkeypatch, ex)
    resumed = train(config, ex, tmp_path / "cut", resume=True, progress=False)
    assert resumed.config.ensemble == 5 and [r["member"] for r in resumed.rows] == [
        r["member"] for r in full.rows]
    assert np.allclose(load(tmp_path / "full").predict_proba(ex),
                       load(tmp_path / "cut").predict_proba(ex), atol=1e-6)


def test_resume_with_other_settings_or_data_is_refused(tmp_path, monkeypatch):
    from rnnkit.checkpoint import CheckpointError

    config = Config(ensemble=2, val_fraction=0.0, **TINY)
    _train_cut_short(config, tmp_path / "cut", monkeypatch)
    with pytest.raises(CheckpointError, match="the setting dropout"):
        train(replace(config, dropout=0.1), reviews(), tmp_path / "cut", resume=True,
              progress=False)
    with pytest.raises(CheckpointError, match=r"training data differs from that run.s "
                                              r"\(data\.examples was 40, now 60\)"):
        train(config, reviews(60), tmp_path / "cut", resume=True, progress=False)
    other = reviews()  # as many texts, the same words, other labels
    other.labels = other.labels[::-1]
    with pytest.raises(CheckpointError, match=r"data\.digest"):
        train(config, other, tmp_path / "cut", resume=True, progress=False)
    resumed = train(config, reviews(), tmp_path / "cut", resume=True, progress=False)
    assert {r["member"] for r in resumed.rows} == {0, 1}


def test_crop_trains_on_windows_and_predicts_on_whole_series(tmp_path):
    """crop < 1: the model crops only while training (its RandomCrop is the identity in
    eval), the share is saved with it, a crop is refused for text and outside (0, 1]."""
    rng = np.random.default_rng(1)
    values = rng.normal(0, 1, (16, 60)).astype(np.float32)
    values[1::2] += np.sin(np.linspace(0, 12, 60, dtype=np.float32))
    labels = ["wave" if i % 2 else "flat" for i in range(16)]
    ex = Examples(values=values, labels=labels)
    config = Config(hidden_size=4, conv_channels=4, epochs=2, crop=0.6, ensemble=1)
    train(config, ex, tmp_path / "ck", progress=False)
    clf = load(tmp_path / "ck")
    assert clf.model.config["crop"] == 0.6 and clf.model.crop.min_keep == 0.6
    assert clf.predict([values[0]]) == clf.predict([values[0]])  # no draw when predicting
    model = clf.model
    x = torch.as_tensor(clf.preprocessing.scale(values[0][:, None]))[None]
    model.train()
    torch.manual_seed(0)
    a = model(x)
    torch.manual_seed(1)
    b = model(x)
    assert not torch.allclose(a, b)  # another window (dropout too), another answer
    model.eval()
    assert torch.equal(model(x), model(x))
    with pytest.raises(ValueError, match="crop applies to numeric series only"):
        train(replace(config, epochs=1), reviews(), progress=False)
    for bad in (0.0, 1.5, True):
        with pytest.raises(ValueError, match="crop must lie in"):
            replace(config, crop=bad).check()


def test_crop_by_default_only_where_the_training_lengths_vary(tmp_path):
    """crop None: 0.8 where the longest training series is at least 1.25 times the shortest,
    else off; given, it is kept; the resolved share is what the checkpoint and model store."""
    assert numeric_crop_default([60] * 5) == 1.0
    assert numeric_crop_default([50, 62]) == 1.0  # 1.24 x: less than a 0.8 crop makes
    assert numeric_crop_default([40, 50, 60]) == 0.8
    assert Config().resolved("numeric", 10, [7, 26]).crop == 0.8
    assert Config().resolved("numeric", 10).crop == 1.0  # lengths unknown: off
    assert Config().resolved("text", 10, [7, 26]).crop == 1.0
    assert Config(crop=1.0).resolved("numeric", 10, [7, 26]).crop == 1.0
    assert Config(crop=0.9).resolved("numeric", 10, [60, 60]).crop == 0.9
    rng = np.random.default_rng(2)
    values = rng.normal(0, 1, (12, 40)).astype(np.float32)
    labels = ["a" if i % 2 else "b" for i in range(12)]
    small = dict(hidden_size=4, conv_channels=4, epochs=1, ensemble=1)
    for lengths, crop in ((np.full(12, 40), 1.0), (np.array([20, 40] * 6), 0.8)):
        folder = tmp_path / f"ck{crop}"
        train(Config(**small), Examples(values=values, lengths=lengths, labels=labels), folder,
              progress=False)
        clf = load(folder)
        assert clf.model.config["crop"] == crop and clf.config.crop == crop


def test_settings_of_the_other_input_kind_are_noted_as_ignored():
    series = shifted_series(12, 10, seed=0)
    history = train(Config(epochs=1, ensemble=1, subword_buckets=5, max_vocab=50), series)
    assert "subword_buckets, max_vocab are settings for text; numeric series training ignores " \
           "them" in history.notes
    texts = Examples(texts=["good fun", "bad plot"] * 4, labels=["pos", "neg"] * 4)
    history = train(Config(epochs=1, frontend="none", val_fraction=0.0), texts)
    assert history.notes == ["frontend is a setting for numeric series; text training ignores "
                             "it"]
    assert train(Config(epochs=1, val_fraction=0.0), texts).notes == []  # defaults: no note
