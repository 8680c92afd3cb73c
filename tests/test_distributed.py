"""Data-parallel ``fit`` (rnnkit.training.distributed): 2 processes x b/2 == 1 process x b.

The oracle is ``fit`` itself in one process: two gloo processes on 127.0.0.1 (spawned with
torch.multiprocessing, the torchrun variables set by hand) must take the same steps, so the loss
trajectory and the final weights agree to 1e-8 in float64 (1e-5 in float32), for a regression
model (shuffled examples with an uneven last batch whose share is empty on rank 1), a
truncated-BPTT language model (its parallel streams split across the ranks) and a text
classifier (padded batches, accuracy metric); a NaN loss or a stop on one rank alone is
taken by both (one process has the whole batch). The ranks also agree with each other bit for bit,
and a checkpoint rank 0 wrote loads and predicts in one process as the trained model does.
"""

from __future__ import annotations

import json
import math
import os
import socket

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

import rnnkit
from rnnkit.data.classification import SequenceDataset, make_loader
from rnnkit.data.text import StreamBatches
from rnnkit.training import distributed

WORLD, TIMEOUT = 2, 120


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------- the three runs, as functions
def regression_run():
    """float64, a DataLoader shuffled by its generator; 33 samples in batches of 8: the last
    global batch has one sample, so rank 1 computes a stand-in with weight 0."""
    torch.manual_seed(0)
    X = torch.randn(33, 6, 2, dtype=torch.float64)
    y = X.sum(dim=(1, 2)).unsqueeze(1) * 0.3
    Xv = torch.randn(11, 6, 2, dtype=torch.float64)
    yv = Xv.sum(dim=(1, 2)).unsqueeze(1) * 0.3
    model = rnnkit.SequenceRegressor(2, 8, 1, cell="gru").double()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y), batch_size=8,
                                         shuffle=True,
                                         generator=torch.Generator().manual_seed(3))
    val = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(Xv, yv), batch_size=4)
    history = rnnkit.fit(model, loader, val_data=val, epochs=3, lr=0.01, metrics=("mae",),
                         clip_norm=1.0, progress=False, seed=0)
    return model, history


def arrays_run(ckpt=None):
    """float32 arrays (fit's own shuffling), val_split, early stopping with restore_best."""
    torch.manual_seed(1)
    X = np.random.default_rng(0).standard_normal((30, 5, 1)).astype(np.float32)
    y = X.sum(axis=(1, 2)) * 0.5
    model = rnnkit.SequenceRegressor(1, 6, 1, cell="lstm")
    history = rnnkit.fit(model, (X, y), val_split=0.2, epochs=4, batch_size=6, lr=0.02,
                         early_stopping=1, progress=False, seed=0, checkpoint_dir=ckpt)
    return model, history, X


def language_run():
    """float64 LSTM language model, truncated BPTT over 4 streams (2 per rank), state carried."""
    torch.manual_seed(2)
    ids = torch.randint(0, 9, (230,))
    model = rnnkit.LanguageModel(9, 12, cell="lstm", embedding_dim=5).double()
    train = StreamBatches(ids[:180], batch_size=4, seq_len=7)
    val = StreamBatches(ids[180:], batch_size=2, seq_len=7)
    history = rnnkit.fit(model, train, val_data=val, epochs=2, loss="cross_entropy", lr=0.01,
                         tbptt=7, progress=False, seed=0)
    return model, history


def classifier_run():
    """float64 BiGRU text classifier on padded variable-length token sequences."""
    g = torch.Generator().manual_seed(4)
    seqs = [torch.randint(2, 20, (int(n),), generator=g).tolist()
            for n in torch.randint(2, 9, (27,), generator=g)]
    labels = torch.tensor([int(sum(s) % 3) for s in seqs])
    torch.manual_seed(5)
    model = rnnkit.TextClassifier(hidden_size=6, num_classes=3, vocab_size=20,
                                  embedding_dim=4, cell="gru").double()
    train = make_loader(SequenceDataset(seqs[:21], labels[:21]), 4, shuffle=True, seed=0)
    val = make_loader(SequenceDataset(seqs[21:], labels[21:]), 4)
    history = rnnkit.fit(model, train, val_data=val, epochs=2, loss=model.loss, lr=0.02,
                         metrics=("accuracy",), progress=False, seed=0)
    return model, history


def decisions_run():
    """Decisions one rank alone would take: a NaN loss on rank 1's share of one batch skips the
    step everywhere; a callback that stops on rank 1 only (one process: the only one) stops
    all."""
    torch.manual_seed(6)
    X = torch.randn(24, 4, 1)
    y = X.sum(dim=(1, 2))
    y[9] = 999.0  # the poisoned sample

    def loss(pred, target):
        value = torch.nn.functional.mse_loss(pred.squeeze(-1), target)
        return value * math.nan if bool((target == 999.0).any()) else value

    def stop(event, info):
        return event == "epoch_end" and info["epoch"] == 2 and os.environ.get("RANK", "1") == "1"

    model = rnnkit.SequenceRegressor(1, 5, 1, cell="rnn")
    history = rnnkit.fit(model, (X, y), epochs=4, batch_size=6, loss=loss, lr=0.01,
                         callbacks=(stop,), progress=False, seed=0)
    return model, history


def summary(model, history) -> dict:
    return {"rows": [{k: v for k, v in r.items() if k != "seconds"} for r in history.rows],
            "grad_norms": history.grad_norms, "best_epoch": history.best_epoch,
            "stop_reason": history.stop_reason,
            "weights": {k: v.double().flatten().tolist() for k, v in model.state_dict().items()}}


def _rank(rank: int, port: int, out: str) -> None:
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(WORLD),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port),
                      RNNKIT_DIST_TIMEOUT=str(TIMEOUT))
    torch.set_num_threads(1)
    model, history, X = arrays_run(ckpt=os.path.join(out, "ckpt") if rank == 0 else None)
    results = {"regression": summary(*regression_run()), "arrays": summary(model, history),
               "arrays_pred": rnnkit.predict(model, X).tolist(),
               "language": summary(*language_run()), "classifier": summary(*classifier_run()),
               "decisions": summary(*decisions_run())}
    with open(os.path.join(out, f"rank{rank}.json"), "w") as f:
        json.dump(results, f)


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    """Both ranks' results (one spawn for every case: starting processes is the slow part)."""
    out = tmp_path_factory.mktemp("ddp")
    mp.start_processes(_rank, args=(free_port(), str(out)), nprocs=WORLD, join=True,
                       start_method="spawn")
    return [json.loads((out / f"rank{r}.json").read_text()) for r in range(WORLD)], out


def close(a, b, tol, where=""):
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            close(a[k], b[k], tol, f"{where}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            close(x, y, tol, f"{where}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert a == pytest.approx(b, rel=tol, abs=tol, nan_ok=True), where
    else:
        assert a == b, where


@pytest.mark.parametrize("case, run, tol", [
    ("regression", regression_run, 1e-8),
    ("arrays", lambda: arrays_run()[:2], 1e-5),
    ("language", language_run, 1e-8),
    ("classifier", classifier_run, 1e-8),
    ("decisions", decisions_run, 1e-5),
])
def test_two_processes_take_the_steps_of_one(ranks, case, run, tol):
    (rank0, rank1), _ = ranks
    single = summary(*run())
    assert single["rows"], case
    close(rank0[case], single, tol, case)
    assert rank0[case] == rank1[case]  # the ranks agree exactly: one model, not two
    if case == "decisions":
        assert [r["skipped"] for r in single["rows"]] == [1, 1]
        assert single["stop_reason"] == "callback"


def test_checkpoint_written_under_ddp_predicts_the_same_in_one_process(ranks):
    (rank0, _), out = ranks
    model = rnnkit.load(out / "ckpt")
    _, history, X = arrays_run()
    np.testing.assert_array_equal(rnnkit.predict(model, X),
                                  np.asarray(rank0["arrays_pred"], dtype=np.float32))
    stored = json.loads((out / "ckpt" / "history.json").read_text())
    assert [r["epoch"] for r in stored["rows"]] == history["epoch"]


def test_single_process_is_untouched_and_checks_the_option():
    assert isinstance(distributed.start("auto", torch.device("cpu"))[0], distributed.Local)
    with pytest.raises(ValueError, match=r"^fit: distributed must be True, False or 'auto', "
                                         r"got 'yes'$"):
        rnnkit.fit(rnnkit.SequenceRegressor(1, 2, 1), (np.zeros((4, 3, 1)), np.zeros(4)),
                   distributed="yes", progress=False)
    env = {k: os.environ.pop(k) for k in distributed.TORCHRUN_ENV if k in os.environ}
    try:
        with pytest.raises(ValueError, match=r"^fit: distributed=True needs a torch.distributed "
                                             r"launch"):
            rnnkit.fit(rnnkit.SequenceRegressor(1, 2, 1), (np.zeros((4, 3, 1)), np.zeros(4)),
                       distributed=True, progress=False)
    finally:
        os.environ.update(env)


def test_shares_take_strided_rows_of_each_global_batch_with_stand_ins():
    sampler = [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9], [10]]
    shares = [distributed._ShareSampler(sampler, r, 3, stand_in=True) for r in range(3)]
    got = [(list(s), list(s.counts)) for s in shares]
    assert got == [([[0, 3], [5, 8], [10]], [2, 2, 1]),
                   ([[1, 4], [6, 9], [10]], [2, 2, 0]),  # [10] is a stand-in of weight 0
                   ([[2], [7], [10]], [1, 1, 0])]
    val = distributed._ShareSampler(sampler, 1, 3, stand_in=False)
    assert list(val) == [[1, 4], [6, 9]]  # validation skips an empty share
    streams = StreamBatches(torch.arange(41), batch_size=4, seq_len=5)
    rows = [[x[:, 0].tolist() for x, _ in distributed._RowShare(streams, r, 2, True)]
            for r in range(2)]
    assert rows == [[[0, 20], [5, 25]], [[10, 30], [15, 35]]]  # the same streams each chunk


def test_a_peer_lost_during_ddps_forward_is_a_distributed_error():
    """DDP's forward broadcasts rank 0's buffers: a collective, where a killed peer surfaces
    as gloo's RuntimeError (seen as 'unexpected error' from a killed-rank launch)."""
    from rnnkit.training.distributed import DistributedError, Local, Parallel

    class Lost(torch.nn.Module):
        def forward(self, x):
            raise RuntimeError("[gloo/transport/tcp/pair.cc:537] Read error: Connection reset")

    run = Parallel.__new__(Parallel)  # no process group needed for the wrapping itself
    run.rank, run.world = 0, 2
    with pytest.raises(DistributedError, match=r"^fit: rank 0 of 2 lost the other processes "
                                               r"during forward \(buffer broadcast\) "):
        run.forward(Lost(), torch.zeros(1))
    assert Local().forward(torch.nn.Identity(), torch.ones(2))[0].tolist() == [1.0, 1.0]
