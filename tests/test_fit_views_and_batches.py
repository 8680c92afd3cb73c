"""fit/evaluate on what users bring (a newcomer's report, session 18): data at any scale,
padded per-step targets with any loss, batches of other layouts, runs where nothing trains,
and the small API edges around them."""

from __future__ import annotations

import csv
import warnings

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset, TensorDataset

import rnnkit
from rnnkit.checkpoint import load_extras
from rnnkit.cli.main import main
from rnnkit.train import NonFiniteError


def _sum_task(scale: float):
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (128, 5, 1)).astype("f4")
    return X * scale, X.sum(1) * scale


@pytest.mark.parametrize("scale", [1e-6, 1e-9, 1e20])
def test_a_standardized_regressor_learns_alike_at_any_scale(scale):
    """The loss in standardised units: at 1e-6 the raw-unit gradients fell under Adam's eps
    (nothing learned), at 1e20 the squared error overflowed float32."""
    errors = []
    for s in (1.0, scale):
        X, y = _sum_task(s)
        torch.manual_seed(0)
        model = rnnkit.SequenceRegressor(1, 8, standardize=True)
        rnnkit.fit(model, (X, y), epochs=4, lr=0.01, progress=False)
        pred = rnnkit.predict(model, X).astype(np.float64)
        errors.append(float(np.sqrt(np.mean((pred / s - y / s) ** 2))))
    assert np.isfinite(errors[1])
    assert errors[1] == pytest.approx(errors[0], rel=1e-3)


def test_the_regressors_statistics_take_tiny_spreads_and_huge_values():
    model = rnnkit.SequenceRegressor(1, 4, standardize=True)
    x = torch.tensor([[[1e-9]], [[2e-9]], [[3e-9]]])
    model.adapt(x, torch.tensor([[1e30], [2e30], [3e30]]))
    assert model.x_std.item() == pytest.approx(np.std([1e-9, 2e-9, 3e-9]), rel=1e-5)
    assert model.y_std.item() == pytest.approx(np.std([1e30, 2e30, 3e30]), rel=1e-5)
    constant = rnnkit.SequenceRegressor(1, 4, standardize=True)
    constant.adapt(torch.full((3, 1, 1), 0.1), torch.ones(3, 1))
    assert constant.x_std.item() == 1.0 and constant.y_std.item() == 1.0


def test_a_tagger_scores_only_the_steps_before_each_length():
    torch.manual_seed(0)
    X, L = torch.randn(8, 6, 2), torch.tensor([6, 5, 4, 3, 6, 2, 1, 6])
    Y = X.sum(-1, keepdim=True)
    padded = Y.clone()
    for i, n in enumerate(L):
        padded[i, n:] = 1000.0
    tagger = rnnkit.SequenceTagger(2, 4, 1)
    assert rnnkit.evaluate(tagger, ((X, L), Y))["loss"] == rnnkit.evaluate(
        tagger, ((X, L), padded))["loss"]
    weights = []
    for target in (Y, padded):
        torch.manual_seed(1)
        model = rnnkit.SequenceTagger(2, 4, 1)
        rnnkit.fit(model, ((X, L), target), epochs=2, batch_size=4, progress=False, seed=0,
                   metrics=["mae"])
        weights.append(torch.cat([p.flatten() for p in model.parameters()]))
    torch.testing.assert_close(weights[0], weights[1], rtol=0, atol=0)


class _Dicts(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        return {"x": torch.ones(3, 1), "lengths": 3, "y": torch.ones(1)}


@pytest.mark.parametrize("data, got", [
    (DataLoader(_Dicts(), batch_size=2), "a dict with keys 'x', 'lengths', 'y'"),
    (DataLoader(TensorDataset(torch.ones(4, 3, 1)), batch_size=2), "(inputs,) with no target"),
    (DataLoader(TensorDataset(torch.ones(4, 3, 1), torch.full((4,), 3), torch.ones(4, 1)),
                batch_size=2), "3 items"),
])
def test_batches_of_another_layout_are_one_line_saying_which_to_yield(data, got):
    model = rnnkit.SequenceRegressor(1, 4)
    for call, what in ((lambda: rnnkit.fit(model, data, epochs=1, progress=False),
                        "fit: train_data"), (lambda: rnnkit.evaluate(model, data),
                                             "evaluate: data")):
        with pytest.raises(ValueError, match=rf"^{what}: each batch must be a pair \(inputs, "
                                             rf"target\), got {__import__('re').escape(got)}; "):
            call()


def test_a_run_where_every_step_is_non_finite_fails_instead_of_saving_an_untrained_model():
    nan = DataLoader([(torch.full((3, 1), float("nan")), torch.ones(1))] * 4, batch_size=2)
    with pytest.raises(NonFiniteError, match="nothing was trained"):
        rnnkit.fit(rnnkit.SequenceRegressor(1, 4), nan, epochs=3, progress=False)


def test_fit_takes_one_callback_and_numpy_extras_and_refuses_a_negative_seed(tmp_path):
    seen = []
    model = rnnkit.SequenceRegressor(1, 4)
    X, y = _sum_task(1.0)
    rnnkit.fit(model, (X, y), epochs=1, progress=False, callbacks=lambda e, i: seen.append(e),
               checkpoint_dir=tmp_path / "run", extras={"a": np.float32(1.5), "b": [np.int64(2)]})
    assert "epoch_end" in seen and load_extras(tmp_path / "run") == {"a": 1.5, "b": [2]}
    with pytest.raises(ValueError, match=r"seed must be an integer in \[0, 2\*\*63\)"):
        rnnkit.fit(model, (X, y), epochs=1, progress=False, seed=-1)


def test_saving_a_bare_model_over_an_applications_checkpoint_warns(tmp_path):
    csv_path = tmp_path / "s.csv"
    csv_path.write_text("value\n" + "".join(f"{i % 7}\n" for i in range(40)))
    run = tmp_path / "run"
    assert main(["regress", "train", "--csv", str(csv_path), "--target", "value", "--window",
                 "3", "--epochs", "1", "--checkpoint", str(run), "--quiet"]) == 0
    with pytest.warns(UserWarning, match=r"held a checkpoint of `rnnkit regress`; it now holds "
                                         r"a bare SequenceRegressor"):
        rnnkit.save(rnnkit.SequenceRegressor(1, 4), run)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a bare model over a bare model: nothing to say
        rnnkit.save(rnnkit.SequenceRegressor(1, 4), run)


def _one_line(capsys, *needles):
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    for n in needles:
        assert n in err, err


@pytest.mark.parametrize("rows, needles", [
    ([["a", "b", "y"], ["1", "2", "3"], ["7", "8", "15", "99"], ["1", "1", "2"]],
     ("line 3 has 4 fields, the header 3", "thousands separator")),
    ([["y", "a", "y"], ["1", "2", "3"], ["4", "5", "6"], ["1", "1", "2"]],
     ("a column 'y' more than once (columns 1, 3)",)),
])
def test_csv_rows_that_shift_columns_and_twice_named_columns_are_refused(tmp_path, capsys, rows,
                                                                         needles):
    path = tmp_path / "t.csv"
    with path.open("w", newline="") as f:
        csv.writer(f).writerows(rows)
    assert main(["regress", "train", "--csv", str(path), "--target", "y", "--features", "a",
                 "--epochs", "1", "--checkpoint", str(tmp_path / "run")]) == 2
    _one_line(capsys, *needles)
    assert not (tmp_path / "run").exists()


def test_trailing_empty_fields_are_not_extra_columns(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,y\n1,2,\n2,3,\n3,4,\n4,5,\n")
    assert main(["regress", "train", "--csv", str(path), "--target", "y", "--epochs", "1",
                 "--checkpoint", str(tmp_path / "run"), "--quiet"]) == 0


@pytest.mark.parametrize("features, needle", [
    ("y,a", "features include the target 'y'"), ("", "features must be distinct column names"),
])
def test_row_mode_features_that_leak_or_are_empty_are_refused(tmp_path, capsys, features,
                                                              needle):
    path = tmp_path / "t.csv"
    path.write_text("a,b,y\n1,2,3\n7,8,15\n1,1,2\n2,2,4\n")
    run = tmp_path / "run"
    assert main(["regress", "train", "--csv", str(path), "--target", "y", "--epochs", "1",
                 "--checkpoint", str(run), "--quiet"]) == 0
    capsys.readouterr()
    # a folder holding a model: its "replaces it" note waits for training, so one line here
    assert main(["regress", "train", "--csv", str(path), "--target", "y", "--features",
                 features, "--epochs", "1", "--checkpoint", str(run)]) == 2
    _one_line(capsys, needle)


def test_the_regress_predictor_names_a_file_name_or_empty_input_and_argv_slips(tmp_path,
                                                                               capsys):
    csv_path = tmp_path / "s.csv"
    csv_path.write_text("value\n" + "".join(f"{i % 7}\n" for i in range(40)))
    run = tmp_path / "run"
    assert main(["regress", "train", "--csv", str(csv_path), "--target", "value", "--window",
                 "3", "--epochs", "1", "--checkpoint", str(run), "--quiet"]) == 0
    predictor = rnnkit.open(run)
    with pytest.raises(ValueError, match=r"not a file name .*use predict_csv\(path\)"):
        predictor.predict(str(csv_path))
    with pytest.raises(ValueError, match="no values given"):
        predictor.predict(np.zeros(0))
    capsys.readouterr()
    assert main(["regress", "evaluate", "--checkpoint", str(run), "--csv", str(csv_path),
                 "--out", "x.json"]) == 2
    _one_line(capsys, "rnnkit regress evaluate: error: unrecognized arguments: --out x.json")


def test_a_folder_that_cannot_be_made_is_one_line(tmp_path):
    """/proc accepts the access check yet no folder can be made there (root): a ValueError
    naming the call, not pathlib's FileNotFoundError."""
    model = rnnkit.SequenceRegressor(1, 4)
    # (not root: the access check refuses it first, in one line too)
    with pytest.raises(ValueError, match=r"^rnnkit.save:? (cannot make the folder )?/proc/no/"):
        rnnkit.save(model, "/proc/no/such")
    X, y = _sum_task(1.0)
    with pytest.raises(ValueError, match=r"^fit: (cannot make the folder |checkpoint_dir )"
                                         r"/proc/no/such"):
        rnnkit.fit(model, (X, y), epochs=1, progress=False, checkpoint_dir="/proc/no/such")
