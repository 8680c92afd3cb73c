"""Issue 14's checkpoint cases: atomic as a whole, one writer per folder, stray temp files,
every JSON part validated (regressions with the probe's inputs, and hypothesis fuzzing),
sizes checked before allocating, a missing device named."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rnnkit
from rnnkit import checkpoint
from rnnkit.checkpoint import CheckpointError, FolderBusyError, writing
from rnnkit.training import state as resume_state

ROOT = Path(__file__).resolve().parents[1]


def _model(bias: float = 0.0):
    model = rnnkit.SequenceRegressor(1, 4, cell="gru")
    with torch.no_grad():
        model.head.bias.fill_(bias)
    return model


# ---------------------------------------------------------------- atomic as a whole
def test_a_write_killed_between_its_two_renames_loads_the_new_checkpoint(tmp_path, monkeypatch):
    rnnkit.save(_model(1.0), tmp_path, extras={"window": 3})
    real = checkpoint.atomic_write

    def dies_at_config(path, write):
        if Path(path).name == checkpoint.CONFIG:
            raise KeyboardInterrupt  # the process is killed after the weights' rename
        real(path, write)

    monkeypatch.setattr(checkpoint, "atomic_write", dies_at_config)
    with pytest.raises(KeyboardInterrupt):
        rnnkit.save(_model(2.0), tmp_path, extras={"window": 5})
    monkeypatch.undo()
    old_config = json.loads((tmp_path / "config.json").read_text())
    assert old_config["extras"] == {"window": 3}  # config.json is still the old save's
    model = rnnkit.load(tmp_path)  # ...but load takes the newer, complete one: no mix
    assert model.head.bias.item() == 2.0
    assert checkpoint.load_extras(tmp_path) == {"window": 5}
    assert not (tmp_path / checkpoint.LOCK).exists()


def test_a_write_killed_before_the_weights_rename_keeps_the_old_checkpoint(tmp_path,
                                                                           monkeypatch):
    rnnkit.save(_model(1.0), tmp_path)

    def dies(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint, "save_model", dies)
    with pytest.raises(KeyboardInterrupt):
        rnnkit.save(_model(2.0), tmp_path)
    monkeypatch.undo()
    assert rnnkit.load(tmp_path).head.bias.item() == 1.0


def test_stray_temp_files_of_killed_writes_are_removed(tmp_path):
    rnnkit.save(_model(), tmp_path)
    (tmp_path / "resume").mkdir()
    strays = [tmp_path / ".model.safetensors.k1l2.tmp", tmp_path / "resume" / ".state.json.x.tmp",
              tmp_path / ".history.csv.y.tmp"]
    for p in strays:
        p.write_bytes(b"partial")
    (tmp_path / ".ckpt.abc.tmp").mkdir()
    rnnkit.save(_model(), tmp_path)
    assert not any(p.exists() for p in strays) and not (tmp_path / ".ckpt.abc.tmp").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "model.safetensors",
                                                         "resume"]


# ---------------------------------------------------------------- one writer per folder
# Python >= 3.12 warns that fork() in a process with threads may deadlock; the child here
# only takes a lock and writes files (no torch thread pools), so the warning does not apply
FORK_OK = pytest.mark.filterwarnings("ignore:This process .* is multi-threaded")


def _hold(folder, conn, die: bool) -> None:
    """A second process (forked: no new interpreter to start) that writes ``folder``."""
    with writing(folder, "test"):
        rnnkit.save(_model(7.0), folder)
        conn.send("locked")
        if die:
            os.kill(os.getpid(), signal.SIGKILL)  # killed while holding the lock
        conn.recv()  # hold the lock until told to go on
        rnnkit.save(_model(7.0), folder)  # the first writer writes again, unharmed
    conn.send("done")


def _holder(folder: Path, die: bool = False):
    ctx = multiprocessing.get_context("fork")
    here, there = ctx.Pipe()
    proc = ctx.Process(target=_hold, args=(folder, there, die))
    proc.start()
    assert here.poll(60) and here.recv() == "locked"
    return proc, here


@FORK_OK
def test_two_writers_on_one_folder_the_second_is_refused_the_first_unharmed(tmp_path):
    folder = tmp_path / "run"
    proc, conn = _holder(folder)
    try:
        owner = rf"PID {proc.pid} on {socket.gethostname()} \(since .*\)"
        with pytest.raises(FolderBusyError, match=rf"^.*run is being written by {owner}; wait "
                                                  r"for it to finish or choose another folder$"):
            rnnkit.save(_model(1.0), folder)
        X = np.zeros((8, 3, 1), np.float32)
        with pytest.raises(FolderBusyError, match=owner):
            rnnkit.fit(_model(), (X, X[:, 0]), epochs=1, checkpoint_dir=folder, progress=False)
        assert rnnkit.load(folder).head.bias.item() == 7.0  # readers are never locked out
    finally:
        conn.send("go")
        assert conn.poll(60) and conn.recv() == "done"
        proc.join(60)
        conn.close()
    assert proc.exitcode == 0
    assert rnnkit.load(folder).head.bias.item() == 7.0
    assert not (folder / checkpoint.LOCK).exists()
    rnnkit.save(_model(1.0), folder)  # free again
    assert rnnkit.load(folder).head.bias.item() == 1.0


@FORK_OK
def test_a_stale_lock_of_a_killed_writer_is_taken_over(tmp_path):
    folder = tmp_path / "run"
    proc, conn = _holder(folder, die=True)
    proc.join(60)
    conn.close()
    assert proc.exitcode == -signal.SIGKILL
    assert json.loads((folder / checkpoint.LOCK).read_text())["pid"] == proc.pid  # left behind
    rnnkit.save(_model(3.0), folder)  # the kernel dropped the dead owner's flock: stale
    assert rnnkit.load(folder).head.bias.item() == 3.0
    assert not (folder / checkpoint.LOCK).exists()


def test_the_lock_is_reentrant_in_one_process_and_released(tmp_path):
    with writing(tmp_path / "a") as lock:
        info = json.loads((tmp_path / "a" / checkpoint.LOCK).read_text())
        assert info["pid"] == os.getpid() and info["host"] == socket.gethostname()
        rnnkit.save(_model(), tmp_path / "a")
        with writing(tmp_path / "a"):
            pass
        assert (tmp_path / "a" / checkpoint.LOCK).exists()
    assert lock._key is None and not (tmp_path / "a" / checkpoint.LOCK).exists()


def test_fit_holds_the_lock_for_the_whole_run(tmp_path):
    seen = []

    def probe(event, info):
        if event == "batch_end" and not seen:
            seen.append((tmp_path / checkpoint.LOCK).exists())

    X = np.zeros((8, 3, 1), np.float32)
    rnnkit.fit(_model(), (X, X[:, 0]), epochs=1, checkpoint_dir=tmp_path, progress=False,
               callbacks=[probe])
    assert seen == [True] and not (tmp_path / checkpoint.LOCK).exists()


@pytest.mark.slow
def test_random_kills_while_saving_always_leave_a_loadable_checkpoint(tmp_path):
    """20 SIGKILLs at random moments of a process saving as fast as it can."""
    script = textwrap.dedent("""
        import sys, torch, rnnkit
        torch.set_num_threads(1)
        i = 0
        print("up", flush=True)
        while True:
            m = rnnkit.SequenceRegressor(1, 64, cell="lstm", num_layers=2)
            with torch.no_grad():
                m.head.bias.fill_(float(i))
            rnnkit.save(m, sys.argv[1], extras={"i": i})
            i += 1
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    rng = np.random.default_rng(0)
    for _ in range(int(os.environ.get("RNNKIT_TEST_KILLS", "20"))):
        with subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], env=env,
                              stdout=subprocess.PIPE, text=True) as proc:
            proc.stdout.readline()
            time.sleep(float(rng.uniform(0.05, 1.0)))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        if (tmp_path / "config.json").exists() or (tmp_path / "model.safetensors").exists():
            model = rnnkit.load(tmp_path)
            assert model.head.bias.item() == checkpoint.load_extras(tmp_path)["i"]


# ---------------------------------------------------- every JSON part validated when read
def _saved(tmp_path) -> Path:
    return rnnkit.save(_model(), tmp_path / "ckpt", extras={"window": 3})


def _edit(path: Path, **changes):
    """Edit config.json *and* the copy in the weights' header (a consistent tampering)."""
    doc = json.loads((path / "config.json").read_text())
    doc.update(changes)
    (path / "config.json").write_text(json.dumps(doc))
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(path / "model.safetensors"))
    save_file(tensors, str(path / "model.safetensors"),
              metadata={"format": "pt", "rnnkit_save_id": doc["save_id"],
                        "rnnkit_config": json.dumps(doc)})


@pytest.mark.parametrize("changes, message", [
    ({"model_class": 7}, r"model_class must be a string, got int"),
    ({"extras": [1, 2]}, r"extras must be an object, got list"),
    ({"extras": "window"}, r"extras must be an object, got str"),
    ({"model_config": {"input_size": 1, "hidden_size": "8", "cell": "gru"}},
     r"model_config does not fit SequenceRegressor: SequenceRegressor: hidden_size must be a "
     r"positive integer, got '8'|model_config does not fit SequenceRegressor: .*hidden_size"),
    ({"model_config": {"input_size": 1, "hidden_size": 10_000_000, "cell": "lstm"}},
     r"would need about .* more than the .* of memory available here"),
    ({"model_config": {"input_size": 1, "hidden_size": 4, "cell": "gru", "num_layers": 10**9}},
     r"would need about .* more than the .* of memory available here"),
    ({"model_config": {"1bad key": 1}}, r"model_config has keys that are not argument names"),
    ({"model_config": {"input_size": 1, "hidden_size": 4, "cell": ["gru"]}},
     r"model_config does not fit SequenceRegressor"),
    ({"saved_at": "yesterday"}, r"saved_at must be a number, got str"),
])
def test_tampered_config_parts_are_one_line_checkpoint_errors(tmp_path, changes, message):
    path = _saved(tmp_path)
    _edit(path, **changes)
    with pytest.raises(CheckpointError, match=message) as info:
        rnnkit.load(path)
    assert "\n" not in str(info.value)


def test_load_on_a_missing_gpu_says_so():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ValueError, match=r"^rnnkit.load: device 'cuda' requested but CUDA is "
                                         r"not available here$"):
        rnnkit.load(ROOT / "tests" / "data" / "regressor_v0.1.0", device="cuda")


def _resumable(tmp_path) -> Path:
    X = np.random.default_rng(0).normal(size=(16, 3, 1)).astype(np.float32)
    rnnkit.fit(_model(), (X, X[:, 0]), epochs=1, checkpoint_dir=tmp_path, progress=False)
    return tmp_path


@pytest.fixture(scope="module")
def resumable(tmp_path_factory):
    return _resumable(tmp_path_factory.mktemp("resumable"))


def _state_doc(folder: Path) -> dict:
    return json.loads((folder / "resume" / "state.json").read_text())


@pytest.mark.parametrize("edit, message", [
    (lambda d: d.pop("epoch"), r"state.json lacks 'epoch'"),
    (lambda d: d.update(epoch="3"), r"epoch must be a non-negative integer, got '3'"),
    (lambda d: d.update(epoch=-1), r"epoch must be a non-negative integer, got '-1'"),
    (lambda d: d.update(tensors="../../config.json"), r"tensors must name a "
                                                      r"state-epochN.safetensors file"),
    (lambda d: d.update(tensors="state-epoch0099.safetensors"), r"state-epoch0099.safetensors "
                                                                r"is missing"),
    (lambda d: d["state"]["__dict__"].pop(0), r"the stored state lacks 'model'"),
    (lambda d: d.update(state=[1, 2]), r"the stored state must be an object"),
    (lambda d: d.update(state={"__tensor__": "nope"}), r"names tensor 'nope', which its tensor "
                                                       r"file lacks"),
    (lambda d: d.update(state={"__ndarray__": [1], "dtype": "object"}),
     r"a stored array does not decode"),
    (lambda d: d.update(state={"weird": 1}), r"an object without a type marker"),
])
def test_tampered_resume_state_is_a_one_line_error(tmp_path, resumable, edit, message):
    import shutil

    folder = tmp_path / "run"
    shutil.copytree(resumable, folder)
    doc = _state_doc(folder)
    edit(doc)
    (folder / "resume" / "state.json").write_text(json.dumps(doc))
    with pytest.raises(CheckpointError, match=rf"^fit: cannot resume from .*resume: {message}"):
        resume_state.read_state(folder)
    X = np.zeros((8, 3, 1), np.float32)
    with pytest.raises(CheckpointError, match=message):
        rnnkit.fit(_model(), (X, X[:, 0]), epochs=2, checkpoint_dir=folder, resume=True,
                   progress=False)


@pytest.mark.parametrize("content", [b"", b"\x00" * 10, b"PK\x03\x04 a zip", b"\x80\x04\x95 pickle"])
def test_a_truncated_or_foreign_resume_tensor_file_is_refused(tmp_path, resumable, content):
    import shutil

    folder = tmp_path / "run"
    shutil.copytree(resumable, folder)
    name = _state_doc(folder)["tensors"]
    data = (folder / "resume" / name).read_bytes()
    (folder / "resume" / name).write_bytes(content or data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=rf"{name} is not a complete safetensors file"):
        resume_state.read_state(folder)


def test_a_wrong_rng_state_is_a_checkpoint_error():
    with pytest.raises(CheckpointError, match=r"the stored random-number state does not fit"):
        resume_state.set_rng_state({"python": [3, [1, 2], None], "numpy": ["MT19937"],
                                    "torch": torch.zeros(3, dtype=torch.uint8),
                                    "generators": {}}, {})


# ------------------------------------------------------------------- hypothesis fuzzing
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=12)
CONFIG_KEYS = ["format", "rnnkit_version", "model_class", "model_module", "model_config",
               "extras", "save_id", "saved_at"]
MODEL_KEYS = ["input_size", "hidden_size", "cell", "num_layers", "bidirectional", "dropout",
              "pooling", "standardize", "init", "activation", "output_size"]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    return _saved(tmp_path_factory.mktemp("pristine"))


@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_fuzzed_config_json_loads_or_says_checkpoint_error(pristine, tmp_path, data):
    doc = json.loads((pristine / "config.json").read_text())
    mode = data.draw(st.sampled_from(["top", "model_config", "whole"]))
    if mode == "whole":
        doc = data.draw(json_values)
    elif mode == "top":
        doc[data.draw(st.sampled_from(CONFIG_KEYS))] = data.draw(json_values)
    else:
        doc["model_config"][data.draw(st.sampled_from(MODEL_KEYS))] = data.draw(json_values)
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    (folder / "model.safetensors").write_bytes((pristine / "model.safetensors").read_bytes())
    (folder / "config.json").write_text(json.dumps(doc))
    try:
        rnnkit.load(folder)
        checkpoint.load_extras(folder)
    except CheckpointError as e:
        assert "\n" not in str(e)


STATE_PATHS = ["epoch", "tensors", "format", "state"]


@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_fuzzed_resume_state_json_reads_or_says_checkpoint_error(resumable, tmp_path, data):
    doc = _state_doc(resumable)
    mode = data.draw(st.sampled_from(["top", "entry", "whole"]))
    if mode == "whole":
        doc = data.draw(json_values)
    elif mode == "top":
        doc[data.draw(st.sampled_from(STATE_PATHS))] = data.draw(json_values)
    else:  # one entry of the encoded state replaced
        pairs = doc["state"]["__dict__"]
        pairs[data.draw(st.integers(0, len(pairs) - 1))][1] = data.draw(json_values)
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    (folder / "resume").mkdir()
    name = _state_doc(resumable)["tensors"]
    (folder / "resume" / name).write_bytes((resumable / "resume" / name).read_bytes())
    (folder / "resume" / "state.json").write_text(json.dumps(doc))
    try:
        stored = resume_state.read_state(folder)
        if stored is not None:
            resume_state.set_rng_state(stored["rng"], {"shuffle": torch.Generator()})
    except CheckpointError as e:
        assert "\n" not in str(e)
