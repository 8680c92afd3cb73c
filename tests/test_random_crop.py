"""RandomCrop (window slicing): each window is a contiguous slice of its series, long enough,
zero past its length; the identity in eval() and at min_keep 1."""

import pytest
import torch

from rnnkit.models.random_crop import RandomCrop


def _series(B=6, T=40, F=3):
    torch.manual_seed(0)
    x = torch.randn(B, T, F, dtype=torch.float64)
    lengths = torch.tensor([40, 33, 20, 7, 2, 1])[:B]
    for b, n in enumerate(lengths):
        x[b, n:] = 0.0  # padding, as the data pipeline leaves it
    return x, lengths


def test_each_window_is_a_slice_of_its_series_and_keeps_enough_of_it():
    x, lengths = _series()
    crop = RandomCrop(0.7).train()
    for seed in range(20):
        torch.manual_seed(seed)
        out, new = crop(x, lengths)
        assert out.shape[0] == x.shape[0] and out.shape[2] == x.shape[2]
        assert out.shape[1] == int(new.max())
        for b, (n, m) in enumerate(zip(lengths.tolist(), new.tolist(), strict=True)):
            assert max(1, int(0.7 * n)) - 1 <= m <= n  # floor of a share >= 0.7
            window = out[b, :m]
            starts = [s for s in range(n - m + 1) if torch.equal(x[b, s:s + m], window)]
            assert starts, (seed, b)  # a contiguous slice of the real steps
            assert torch.count_nonzero(out[b, m:]) == 0


def test_no_lengths_means_every_series_is_whole():
    x = torch.randn(4, 30, 2)
    torch.manual_seed(1)
    out, new = RandomCrop(0.5).train()(x, None)
    assert ((new >= 15) & (new <= 30)).all() and out.shape[1] == int(new.max())


def test_identity_in_eval_and_at_min_keep_one():
    x, lengths = _series()
    for crop in (RandomCrop(0.5).eval(), RandomCrop(1.0).train()):
        out, new = crop(x, lengths)
        assert out is x and new is lengths


def test_the_same_seed_draws_the_same_windows_and_gradients_reach_the_input():
    x, lengths = _series()
    x.requires_grad_(True)
    crop = RandomCrop(0.6).train()
    torch.manual_seed(3)
    a, na = crop(x, lengths)
    torch.manual_seed(3)
    b, nb = crop(x, lengths)
    assert torch.equal(a, b) and torch.equal(na, nb)
    a.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


@pytest.mark.parametrize("bad", [0.0, -0.1, 1.5, float("nan")])
def test_a_share_outside_0_1_is_refused(bad):
    with pytest.raises(ValueError, match="min_keep must lie in"):
        RandomCrop(bad)
