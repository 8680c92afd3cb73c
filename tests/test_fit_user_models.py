"""rnnkit.fit as a PyTorch user drives it (a newcomer's run, 2026-12-02): models built
between fits, models and losses that return the wrong kind of thing, optimizer instances
with fit's own lr, History.write with a str."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

import rnnkit

X, Y = torch.randn(16, 5, 3), torch.randn(16, 1)


class Reg(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 1)

    def forward(self, x):
        return self.lin(x.mean(1))


def test_models_built_after_each_fit_differ_and_the_script_repeats():
    """fit re-seeded the global generators to its seed (0) every call, so in a loop
    `m = Reg(); fit(m)` every model after the first started from the same weights."""
    def loop():
        torch.manual_seed(0)
        inits = []
        for _ in range(3):
            m = Reg()
            inits.append(m.lin.weight.detach().clone())
            rnnkit.fit(m, (X, Y), epochs=1, batch_size=8, progress=False)
        return inits

    first = loop()
    assert not torch.equal(first[1], first[2]) and not torch.equal(first[0], first[1])
    for a, b in zip(first, loop(), strict=True):  # a seeded script still repeats
        assert torch.equal(a, b)


class Dicty(Reg):
    def forward(self, x):
        return {"y": super().forward(x)}


def test_a_model_or_loss_of_the_wrong_kind_is_one_clear_line():
    with pytest.raises(ValueError, match=r"^fit: Dicty rejects the first batch of train_data: "
                                         r"returned dict; expected a tensor"):
        rnnkit.fit(Dicty(), (X, Y), epochs=1, progress=False)
    with pytest.raises(ValueError, match=r"the loss returned shape \(16, 1\); expected one "
                                         r"number"):
        rnnkit.fit(Reg(), (X, Y), epochs=1, batch_size=16, progress=False,
                   loss=nn.MSELoss(reduction="none"))
    with pytest.raises(ValueError, match=r"the loss returned float; expected one number"):
        rnnkit.fit(Reg(), (X, Y), epochs=1, progress=False, loss=lambda p, t: 1.0)


def test_fit_lr_beside_an_optimizer_instance_is_said_to_be_ignored(tmp_path):
    model = Reg()
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    with pytest.warns(UserWarning, match=r"fit: lr=1e-09, weight_decay=0.5 ignored: the "
                                         r"optimizer instance keeps its own"):
        history = rnnkit.fit(model, (X, Y), epochs=1, progress=False, optimizer=opt, lr=1e-9,
                             weight_decay=0.5)
    assert history.rows[-1]["lr"] == 0.5
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the defaults say nothing
        rnnkit.fit(model, (X, Y), epochs=1, progress=False, optimizer=opt)
    history.write(str(tmp_path / "h"))  # a str: "'str' / 'str'" before
    assert (tmp_path / "h" / "history.json").exists()


def test_resume_refuses_a_loss_changed_from_a_name_to_a_callable(tmp_path):
    rnnkit.fit(Reg(), (X, Y), epochs=1, progress=False, checkpoint_dir=tmp_path / "run")
    with pytest.raises(ValueError, match=r"loss was 'mse' in that run and is 'a L1Loss' now"):
        rnnkit.fit(Reg(), (X, Y), epochs=2, progress=False, checkpoint_dir=tmp_path / "run",
                   resume=True, loss=nn.L1Loss())


def test_a_float64_model_reads_float32_loaders():
    """A float64 model got torch's "expected Double but found Float" from a DataLoader of
    float32 batches, where float32 arrays are read as float64 for it."""
    from torch.utils.data import DataLoader, TensorDataset

    model = Reg().double()
    loader = DataLoader(TensorDataset(X, Y), batch_size=8)
    history = rnnkit.fit(model, loader, val_data=loader, epochs=1, progress=False)
    assert history.rows[-1]["val_loss"] is not None
    assert rnnkit.predict(model, DataLoader(TensorDataset(X), batch_size=8)).dtype.name == \
        "float64"


def test_val_split_with_tbptt_says_why():
    """"val_split needs (X, y) arrays" was said to a user who had passed arrays."""
    class Stateful(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn, self.head = rnnkit.GRU(2, 3), nn.Linear(3, 1)

        def forward(self, x, state=None):
            out, state = self.rnn(x, state)
            return self.head(out), state

    with pytest.raises(ValueError, match=r"val_split cannot split tbptt's streams"):
        rnnkit.fit(Stateful(), (torch.randn(4, 40, 2), torch.randn(4, 40, 1)), tbptt=10,
                   val_split=0.25, epochs=1, progress=False)


def test_an_iterable_dataset_is_read_in_its_own_order():
    """fit's default shuffle=True met torch's "expected unspecified shuffle option"."""
    from torch.utils.data import IterableDataset

    class Pairs(IterableDataset):
        def __iter__(self):
            return iter(zip(X, Y, strict=True))

    history = rnnkit.fit(Reg(), Pairs(), epochs=2, batch_size=8, progress=False)
    assert len(history.rows) == 2
