"""StepDifferences: closed-form changes, statistics from the training series, padding that
changes nothing; the classifier reads them, saves them, and reads older checkpoints without."""

import numpy as np
import torch

from rnnkit.apps import classify
from rnnkit.apps.classify.predictor import _config_of
from rnnkit.checkpoint import load_extras
from rnnkit.models.step_differences import StepDifferences
from rnnkit.models.text_classifier import TextClassifier


def test_changes_in_closed_form_then_standardised():
    x = torch.tensor([[[1.0, 10.0], [3.0, 10.0], [6.0, 7.0]]])
    assert StepDifferences(2)(x)[0].tolist() == [[1.0, 10.0, 0.0, 0.0], [3.0, 10.0, 2.0, 0.0],
                                                 [6.0, 7.0, 3.0, -3.0]]
    diff = StepDifferences(2).fit([np.array([[1.0, 10.0], [3.0, 10.0], [6.0, 7.0]])])
    changes = np.array([[0.0, 0.0], [2.0, 0.0], [3.0, -3.0]])  # the first step's change is 0
    assert np.allclose(diff.mean.numpy(), changes.mean(0))
    assert np.allclose(diff.std.numpy(), changes.std(0))
    out = diff(x)[0, :, 2:].numpy()
    assert np.allclose(out, (changes - changes.mean(0)) / changes.std(0), atol=1e-6)
    # a feature that never changes keeps σ = 1 (no division by zero)
    assert StepDifferences(1).fit([np.ones((5, 1))]).std.item() == 1.0


def test_a_series_alone_and_padded_gives_the_same_logits():
    torch.manual_seed(0)
    model = TextClassifier(2, 8, 3, conv_channels=8, conv_dilation=2, pooling="attention",
                           differences=True).eval()
    model.differences.fit([np.random.default_rng(0).normal(size=(30, 2))])
    x = torch.randn(3, 20, 2)
    lengths = torch.tensor([20, 13, 4])
    for b, n in enumerate(lengths):
        x[b, n:] = 0.0
    batch = model(x, lengths)
    for b, n in enumerate(lengths):
        alone = model(x[b:b + 1, :n], lengths[b:b + 1])
        assert torch.allclose(alone, batch[b:b + 1], atol=1e-5)
    assert model.conv.convs[0].in_channels == 4  # values and changes


def test_the_classifier_saves_its_statistics_and_old_checkpoints_read_without(tmp_path):
    rng = np.random.default_rng(0)
    t = np.linspace(0, 1, 24)
    values = np.stack([np.sin(2 * np.pi * (1 + k % 2) * t) + 0.1 * rng.normal(size=24)
                       for k in range(12)])[:, :, None].astype(np.float32)
    labels = ["slow" if k % 2 == 0 else "fast" for k in range(12)]
    examples = classify.Examples(values=values, lengths=np.full(12, 24), labels=labels)
    config = classify.Config(hidden_size=4, conv_channels=4, epochs=2, ensemble=2)
    history = classify.train(config, examples, tmp_path / "ck", progress=False)
    member = history.model.members[0]
    assert history.config.differences and member.differences is not None
    assert member.differences.std.abs().sum() > 0
    clf = classify.load(tmp_path / "ck")
    assert torch.equal(clf.model.members[1].differences.mean, member.differences.mean)
    assert np.allclose(clf.predict_proba(examples),
                       classify.ClassifyPredictor(history.model, history.config,
                                                  history.preprocessing).predict_proba(examples))
    # a checkpoint written before differences existed: its config says it reads none
    stored = load_extras(tmp_path / "ck")
    assert stored["config"].pop("differences") is True
    assert _config_of(stored).differences is False
