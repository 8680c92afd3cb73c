"""The shared checks: validate.py, state_tree.py, runtime.evaluating, checkpoint.check_folder."""

import math
import os

import numpy as np
import pytest
import torch

from rnnkit import state_tree
from rnnkit.checkpoint import check_folder
from rnnkit.runtime import evaluating
from rnnkit.validate import (
    finite_float,
    in_range,
    non_negative_int,
    positive_float,
    positive_int,
    probability,
)


def test_positive_int_accepts_ints_and_numpy_ints():
    assert positive_int("n", 3) == 3
    assert positive_int("n", np.int64(4)) == 4 and type(positive_int("n", np.int64(4))) is int
    assert non_negative_int("n", 0) == 0


@pytest.mark.parametrize("bad", [0, -1, True, 2.0, "3", None, math.nan])
def test_positive_int_refuses(bad):
    with pytest.raises(ValueError, match=rf"^LSTM: hidden_size must be a positive integer, "
                                         rf"got {__import__('re').escape(repr(bad))}$"):
        positive_int("hidden_size", bad, owner="LSTM")


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, "1", None, True, 10**400])
def test_finite_float_refuses_nan_inf_and_non_numbers(bad):
    with pytest.raises(ValueError, match=r"^lr must be a finite number, got "):
        finite_float("lr", bad)


def test_positive_float_and_probability():
    assert positive_float("lr", 1e-3) == 1e-3
    with pytest.raises(ValueError, match=r"^fit: lr must be a positive number, got 0$"):
        positive_float("lr", 0, owner="fit")
    with pytest.raises(ValueError, match=r"^lr must be a finite number, got nan$"):
        positive_float("lr", math.nan)
    assert probability("dropout", 0) == 0.0
    for bad in (1.0, -0.1, math.nan, math.inf):
        with pytest.raises(ValueError, match=r"^GRU: dropout must lie in \[0, 1\), got "):
            probability("dropout", bad, owner="GRU")
    assert probability("p", 1.0, allow_one=True) == 1.0
    with pytest.raises(ValueError, match=r"^level must lie in \(0, 1\), got 0$"):
        in_range("level", 0, 0, 1, low_open=True)


def test_tree_map_keeps_containers_and_none():
    h = torch.ones(2, 3)
    tree = [(h, h * 2), None, {"a": h}]
    out = state_tree.tree_map(lambda t: t + 1, tree)
    assert isinstance(out, list) and isinstance(out[0], tuple) and out[1] is None
    assert torch.equal(out[2]["a"], h + 1)
    assert len(state_tree.leaves(tree)) == 3
    again = state_tree.unflatten(tree, [t * 0 for t in state_tree.leaves(tree)])
    assert state_tree.structure(again) == state_tree.structure(tree)
    with pytest.raises(ValueError, match="unflatten: 1 more tensors"):
        state_tree.unflatten(tree, state_tree.leaves(tree) + [h])


def test_state_helpers_detach_stack_index_to():
    w = torch.ones(3, requires_grad=True)
    state = (w * 2, w * 3)
    assert all(not t.requires_grad for t in state_tree.leaves(state_tree.detach(state)))
    stacked = state_tree.stack([state, state])
    assert stacked[0].shape == (2, 3)
    assert state_tree.index(stacked, 1)[1].shape == (3,)
    picked = state_tree.index(stacked, torch.tensor([0]), dim=0)
    assert picked[0].shape == (1, 3)
    assert state_tree.to(state, dtype=torch.float64)[0].dtype == torch.float64
    summed = state_tree.tree_map(lambda a, b: a + b, state, state)
    assert torch.equal(summed[1], w * 6)


def test_evaluating_restores_mode_even_on_error():
    model = torch.nn.Sequential(torch.nn.Dropout(0.5))
    model.train()
    with evaluating(model) as m:
        assert m is model and not model.training and not torch.is_grad_enabled()
    assert model.training and torch.is_grad_enabled()
    with pytest.raises(RuntimeError), evaluating(model):
        raise RuntimeError("boom")
    assert model.training
    model.eval()
    with evaluating(model):
        pass
    assert not model.training


def test_check_folder(tmp_path):
    assert check_folder(tmp_path / "a" / "b") == tmp_path / "a" / "b"
    (tmp_path / "f").write_text("x")
    with pytest.raises(ValueError, match=r"^--checkpoint .*f exists and is not a folder$"):
        check_folder(tmp_path / "f", "--checkpoint")
    with pytest.raises(ValueError, match=r"f exists and is not a folder$"):
        check_folder(tmp_path / "f" / "sub", "--checkpoint")
    if os.geteuid() != 0:
        locked = tmp_path / "ro"
        locked.mkdir()
        locked.chmod(0o500)
        try:
            with pytest.raises(ValueError, match=r"cannot write in .*ro \(permission denied\)"):
                check_folder(locked / "ckpt", "--checkpoint")
        finally:
            locked.chmod(0o700)


@pytest.mark.parametrize("seed", [2**70, -2**64, 1.5, "1", True])
def test_seed_out_of_range_is_named(seed):
    """Issue 14: --seed 2**70 said 'Overflow when unpacking long long' without naming it."""
    from rnnkit.runtime import seed_everything

    with pytest.raises(ValueError, match=r"^seed must be an integer in \[-2\*\*63, 2\*\*64\), "
                                         r"got "):
        seed_everything(seed)


def test_memory_helpers():
    from rnnkit.runtime import check_memory, format_bytes, memory_available

    assert memory_available() > 0
    assert format_bytes(1536) == "1.5 KiB" and format_bytes(12) == "12 B"
    check_memory("a small thing", 10)
    with pytest.raises(ValueError, match=r"^a huge thing would need about 8.0 EiB|^a huge thing "
                                         r"would need about .* more than the .* of memory "
                                         r"available here$"):
        check_memory("a huge thing", 2**63)
