"""Rough edges three newcomer runs found (session 17): sampling at temperatures or top-p
below float32's range, ``serve --threads 0``, long CSV texts, non-finite numeric inputs,
held-out shares that swallow a class, anomaly options that could never work, plots and
exports into folders that do not exist or cannot be written."""

import numpy as np
import pytest
import torch

from rnnkit.apps.anomaly import Config as AnomalyConfig
from rnnkit.apps.anomaly.data import read_stream
from rnnkit.apps.classify.inputs import Examples
from rnnkit.apps.classify.predictor import _series
from rnnkit.apps.classify.training import _held_out_notes
from rnnkit.apps.forecast.plot import plot_forecast
from rnnkit.cli.main import main
from rnnkit.data.classification import read_text_csv, stratified_split
from rnnkit.export import ExportError, export
from rnnkit.generate import greedy, sample_next
from rnnkit.serve.scheduler import GenerationSettings, RowSampler, StreamHandle


# ------------------------------------------------------------------------------ sampling
@pytest.mark.parametrize("temperature", [1e-20, 1e-38, 1e-39, 1e-300, 5e-324])
def test_a_tiny_temperature_samples_greedily_never_nan(temperature):
    logits = torch.randn(4, 50) * 5
    assert sample_next(logits, temperature).tolist() == logits.argmax(-1).tolist()


@pytest.mark.parametrize("top_p", [1e-46, 1e-300, 5e-324])
def test_a_top_p_below_float32s_smallest_keeps_the_top_token(top_p):
    logits = torch.randn(4, 50) * 5
    assert sample_next(logits, 1.0, top_p=top_p).tolist() == logits.argmax(-1).tolist()


def test_only_a_temperature_float32_reads_as_zero_is_greedy():
    assert greedy(0.0) and greedy(5e-324) and greedy(1e-46)
    assert not greedy(1e-44) and not greedy(0.7)


def test_the_server_sampler_draws_the_top_token_for_tiny_settings_and_leaves_others_alone():
    """A tiny temperature in one row does not change the arithmetic of the others: each
    row is what it would be alone (generate.stream's contract for batched streams)."""
    torch.manual_seed(0)
    logits = torch.randn(3, 40) * 4
    settings = [GenerationSettings(temperature=1e-300), GenerationSettings(temperature=0.7),
                GenerationSettings(temperature=1.0, top_p=1e-300)]
    handles = []
    for s in settings:
        h = StreamHandle([1], s)
        h.generator = torch.Generator().manual_seed(5)
        handles.append(h)
    drawn = RowSampler(handles, 40).sample(logits)
    assert drawn[0] == int(logits[0].argmax()) and drawn[2] == int(logits[2].argmax())
    alone = RowSampler(handles[1:2], 40)
    handles[1].generator = torch.Generator().manual_seed(5)
    assert alone.sample(logits[1:2]) == [drawn[1]]


def test_serve_refuses_zero_threads_before_loading_anything(capsys):
    with pytest.raises(SystemExit) as end:  # argparse's exit: no traceback, status 2
        main(["serve", "--checkpoint", "no-such-folder", "--threads", "0"])
    assert end.value.code == 2
    assert "expected a positive integer, got '0'" in capsys.readouterr().err


# ------------------------------------------------------------------------------ classify
def test_a_csv_text_longer_than_csvs_field_limit_is_read(tmp_path):
    long = " ".join(["great"] * 40_000)  # 240k characters: csv's own limit is 128 KiB
    path = tmp_path / "t.csv"
    path.write_text(f'text,label\n"{long}",pos\nboring,neg\n', encoding="utf-8")
    texts, labels = read_text_csv(path, "text", "label")
    assert texts[0] == long and labels == ["pos", "neg"]


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, 1e308])
def test_non_finite_or_float32_overflowing_series_are_refused(bad):
    with pytest.raises(ValueError, match="step 2, feature 1"):
        _series([1.0, bad, 2.0], 0)
    if np.isfinite(bad):  # 1e308 becomes inf in float32: refused as such by Examples
        bad = np.inf
    with pytest.raises(ValueError, match="example 1, step 2, feature 1"):
        Examples(values=np.array([[1.0, bad, 2.0]]), labels=["a"])


def test_padding_past_a_series_length_may_be_anything():
    ex = Examples(values=np.array([[1.0, 2.0, np.nan], [1.0, 2.0, 3.0]]),
                  lengths=np.array([2, 3]), labels=["a", "b"])
    assert len(ex) == 2


def test_the_held_out_share_never_takes_a_whole_class():
    y = np.array([0] * 20 + [1] * 20 + [2])
    keep, held = stratified_split(y, 0.99, seed=0)
    assert set(y[keep].tolist()) == {0, 1, 2} and 2 not in y[held]
    notes = _held_out_notes(0.99, y, held, ["a", "b", "weird"])
    assert notes and "weird" in notes[0]
    keep, held = stratified_split(np.array([0, 1]), 0.5)
    assert len(held) == 0
    assert "holds out no example" in _held_out_notes(0.5, np.array([0, 1]), held, ["a", "b"])[0]


# ------------------------------------------------------------------------------- anomaly
def _stream_csv(path):
    t = np.arange(60)
    rows = [f"2024-01-01 00:{i // 60:02d}:{i % 60:02d},{np.sin(i / 5):.4f},0" for i in t]
    path.write_text("timestamp,value,label\n" + "\n".join(rows) + "\n")
    return path


def test_a_named_label_column_that_is_missing_is_an_error(tmp_path):
    path = _stream_csv(tmp_path / "s.csv")
    with pytest.raises(ValueError, match="label column 'nope' not found"):
        read_stream(path, AnomalyConfig(label_col="nope"), min_rows=10)
    assert read_stream(path, AnomalyConfig(), min_rows=10).labels is not None


@pytest.mark.parametrize("threshold", [0.0, 1.0, 2.0])
def test_a_stream_threshold_outside_0_1_is_refused(threshold):
    with pytest.raises(ValueError, match="threshold must lie in"):
        AnomalyConfig(threshold=threshold).check()
    AnomalyConfig(layout="sequences", threshold=threshold + 1).check()  # a score: any size


# ------------------------------------------------------------------------ plots, exports
def test_a_forecast_plot_goes_into_a_new_folder_with_no_temporary_file_left(tmp_path):
    out = tmp_path / "new" / "deeper" / "f.svg"
    plot_forecast(out, ["y"], np.arange(10.0), np.arange(10.0)[:, None],
                  np.arange(10.0, 13.0), np.ones((3, 1)))
    assert out.read_text().lstrip().startswith("<?xml")  # the format of the name, svg
    assert [p.name for p in out.parent.iterdir()] == ["f.svg"]


def test_an_export_into_a_folder_that_cannot_be_written_names_it():
    from rnnkit import SequenceRegressor

    with pytest.raises(ExportError, match="cannot write /proc/rnnkit-export"):
        export(SequenceRegressor(1, 4), "/proc/rnnkit-export")


# ---------------------------------------------------------- numbers beyond float32's range
def test_float64_inputs_beyond_float32_are_named_not_called_nan():
    from rnnkit.training.data import as_tensor

    with pytest.raises(ValueError, match=r"holds 1e\+308, beyond float32's range"):
        as_tensor(np.full(30, 1e308), "values")


def test_a_forecast_target_beyond_float32_is_refused_by_series():
    import pandas as pd

    from rnnkit.apps.forecast.panel import read_panel

    frame = pd.DataFrame({"id": ["a"] * 10, "t": range(10), "y": [1e308] * 10})
    with pytest.raises(ValueError, match="series 'a' holds 1e\\+308"):
        read_panel(frame, id_col="id", time_col="t", target="y")


# ------------------------------------------------------------------ CLI conventions
def test_classify_without_an_action_prints_its_own_help(capsys):
    assert main(["classify"]) == 2
    assert "usage: rnnkit classify" in capsys.readouterr().err


def test_a_text_too_long_to_train_is_refused_before_training_with_the_way_out(tmp_path,
                                                                               capsys):
    (tmp_path / "pos.txt").write_text("good film\n" + "great " * 2_000_000 + "\n")
    (tmp_path / "neg.txt").write_text("bad film\ndull film\n")
    assert main(["classify", "train", "--text-files", str(tmp_path / "pos.txt"),
                 str(tmp_path / "neg.txt"), "--checkpoint", str(tmp_path / "ck"),
                 "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "padded to the longest (2,000,000 tokens)" in err and "--max-length" in err
    assert not (tmp_path / "ck").exists()


def test_column_lists_take_commas_as_well_as_spaces():
    import argparse

    from rnnkit.cli.config_flags import add_config_flags, config_from_args

    parser = argparse.ArgumentParser()
    add_config_flags(parser, AnomalyConfig)
    for argv in (["--value-cols", "a,b"], ["--value-cols", "a", "b"]):
        assert config_from_args(AnomalyConfig, parser.parse_args(argv)).value_cols == ["a", "b"]


def test_stream_events_count_a_flag_a_few_readings_late_as_detected():
    from rnnkit.apps.anomaly.app import event_scores

    truth = np.zeros(100, dtype=int)
    truth[[20, 50]] = 1
    truth[70:75] = 1
    flags = np.zeros(100, dtype=int)
    flags[[21, 80, 95]] = 1  # spike 20 one reading late; the 70-74 run 6 after its end
    scores = event_scores(truth, flags, tolerance=3)
    assert (scores["events"], scores["events_detected"]) == (3, 1)
    assert scores["false_alarms"] == 2  # 80 is 6 past the run's end, 95 near nothing
    assert event_scores(truth, flags, tolerance=10)["events_detected"] == 2


# ------------------------------------------------------------- labels and dates as numbers
def test_whole_number_labels_keep_their_spelling_and_decimals_merge():
    from rnnkit.data.classification import _label_text

    assert [_label_text(c) for c in ("007", "7", "1.0", "1.0000000e+00", "-1")] == [
        "007", "7", "1", "1", "-1"]


def test_dates_written_as_numbers_read_as_dates():
    import pandas as pd

    from rnnkit.apps.forecast.panel import read_panel

    days = pd.date_range("2024-01-20", periods=30, freq="D")
    frame = pd.DataFrame({"id": "a", "when": days.strftime("%Y%m%d").astype(int),
                          "y": np.arange(30.0)})
    panel = read_panel(frame, id_col="id", time_col="when", target="y")
    assert panel.freq == "D" and len(panel.series[0]) == 30


def test_a_forecaster_without_a_network_is_not_exported_as_its_placeholder():
    from rnnkit.export import _refuse_placeholder

    with pytest.raises(ExportError, match="no network to export .* by ets, theta"):
        _refuse_placeholder({"forecast": {"panel": {"has_network": False,
                                                    "choice": {"a": "ets", "b": "theta"}}}})
    _refuse_placeholder({"forecast": {"panel": {"has_network": True}}})  # has one: exported


def test_loading_an_unfinished_run_says_to_resume_it(tmp_path):
    from rnnkit.checkpoint import load

    (tmp_path / "run" / "members" / "0").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="did not finish.*--resume"):
        load(tmp_path / "run")


def test_a_one_column_stream_reads_its_rows_as_steps(tmp_path):
    from rnnkit.apps import anomaly

    path = tmp_path / "one.csv"
    path.write_text("value\n" + "\n".join(f"{np.sin(i / 5):.4f}" for i in range(300)) + "\n")
    stream = read_stream(path, AnomalyConfig(), min_rows=10)
    assert stream.time_col is None and stream.columns == ["value"] and stream.times[-1] == 299
    config = AnomalyConfig(data=str(path), checkpoint=str(tmp_path / "ck"), epochs=1,
                           hidden_size=8, window=16, chunk=16)
    anomaly.train(config)
    frame = anomaly.load(tmp_path / "ck").predict(path)
    assert list(frame.columns[:2]) == ["step", "value"] and len(frame) == 300


def test_training_into_a_folder_with_a_model_says_it_replaces_it(tmp_path, capsys):
    csv = tmp_path / "s.csv"
    csv.write_text("value\n" + "\n".join(f"{np.sin(i / 4):.4f}" for i in range(60)) + "\n")
    argv = ["regress", "train", "--csv", str(csv), "--target", "value", "--window", "4",
            "--epochs", "1", "--hidden-size", "4", "--checkpoint", str(tmp_path / "ck"),
            "--quiet"]
    assert main(argv) == 0
    assert "replaces it" not in capsys.readouterr().err  # a new folder: nothing to say
    assert main(argv) == 0
    assert "holds a trained model; this run replaces it" in capsys.readouterr().err
