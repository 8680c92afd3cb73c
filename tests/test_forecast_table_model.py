"""Forecaster and SegRNN: against the paper's reference code, streaming, equivariance, losses,
checkpoints and errors."""

import math

import pytest
import torch
from torch import nn

import rnnkit
from rnnkit.models.forecaster import Forecaster, gaussian_nll, pinball_loss


class ReferenceSegRNN(nn.Module):
    """The official SegRNN forward (lss-1138/SegRNN, models/SegRNN.py, rnn_type=gru,
    dec_way=pmf, channel_id=1), on torch.nn.GRU: the oracle."""

    def __init__(self, seq_len, pred_len, enc_in, d_model, seg_len):
        super().__init__()
        self.seq_len, self.pred_len, self.enc_in = seq_len, pred_len, enc_in
        self.d_model, self.seg_len = d_model, seg_len
        self.seg_num_x, self.seg_num_y = seq_len // seg_len, pred_len // seg_len
        self.valueEmbedding = nn.Sequential(nn.Linear(seg_len, d_model), nn.ReLU())
        self.rnn = nn.GRU(d_model, d_model, 1, bias=True, batch_first=True)
        self.pos_emb = nn.Parameter(torch.randn(self.seg_num_y, d_model // 2))
        self.channel_emb = nn.Parameter(torch.randn(enc_in, d_model // 2))
        self.predict = nn.Sequential(nn.Dropout(0.0), nn.Linear(d_model, seg_len))

    def forward(self, x):
        batch_size = x.size(0)
        seq_last = x[:, -1:, :].detach()
        x = (x - seq_last).permute(0, 2, 1)
        x = self.valueEmbedding(x.reshape(-1, self.seg_num_x, self.seg_len))
        _, hn = self.rnn(x)
        pos_emb = torch.cat([
            self.pos_emb.unsqueeze(0).repeat(self.enc_in, 1, 1),
            self.channel_emb.unsqueeze(1).repeat(1, self.seg_num_y, 1),
        ], dim=-1).view(-1, 1, self.d_model).repeat(batch_size, 1, 1)
        _, hy = self.rnn(pos_emb, hn.repeat(1, 1, self.seg_num_y).view(1, -1, self.d_model))
        y = self.predict(hy).view(-1, self.enc_in, self.pred_len)
        return y.permute(0, 2, 1) + seq_last


def test_segrnn_matches_the_reference_code(double):
    ref = ReferenceSegRNN(48, 36, 3, 16, 12)
    ours = Forecaster(3, 48, 36, mode="segrnn", hidden_size=16, segment_length=12, norm="last")
    net = ours.net
    with torch.no_grad():
        net.embed[0].weight.copy_(ref.valueEmbedding[0].weight)
        net.embed[0].bias.copy_(ref.valueEmbedding[0].bias)
        net.rnn.load_torch_state_dict(ref.rnn.state_dict())
        net.pos_emb.copy_(ref.pos_emb)
        net.channel_emb.copy_(ref.channel_emb)
        net.predict.weight.copy_(ref.predict[1].weight)
        net.predict.bias.copy_(ref.predict[1].bias)
    x = torch.randn(5, 48, 3)
    torch.testing.assert_close(ours(x), ref(x), atol=1e-10, rtol=1e-10)
    x.requires_grad_(True)
    g1, = torch.autograd.grad(ours(x).square().sum(), x)
    g2, = torch.autograd.grad(ref(x).square().sum(), x)
    torch.testing.assert_close(g1, g2, atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("cell", ["gru", "lstm", "rnn"])
@pytest.mark.parametrize("covariates", [0, 3])
def test_segrnn_shared_decoding_equals_the_plain_path(cell, covariates, double):
    m = Forecaster(3, 24, 20, mode="segrnn", cell=cell, hidden_size=10, segment_length=6,
                   covariate_size=covariates, output="gaussian")
    x = torch.randn(4, 24, 3 + covariates, requires_grad=True)
    fc = torch.randn(4, 20, covariates) if covariates else None
    fast = m(x, fc)
    g_fast, = torch.autograd.grad(fast.sum(), x)
    m.net.shared_decoding = False
    plain = m(x, fc)
    g_plain, = torch.autograd.grad(plain.sum(), x)
    torch.testing.assert_close(fast, plain, atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(g_fast, g_plain, atol=1e-10, rtol=1e-10)


def test_segrnn_pads_lengths_that_are_not_multiples():
    m = Forecaster(2, 30, 10, mode="segrnn", hidden_size=8, segment_length=7)
    assert m.net.n_in == 5 and m.net.n_out == 2
    assert m(torch.randn(4, 30, 2)).shape == (4, 10, 2)


def test_recursive_rollout_equals_refeeding_the_forecasts(double):
    """Carrying the state through the roll-out == re-running the RNN on the window extended
    by the forecasts so far (the oracle), for every step."""
    m = Forecaster(2, 10, 5, mode="recursive", hidden_size=12, norm="none").eval()
    x = torch.randn(3, 10, 2)
    out = m(x)
    seq = x
    for k in range(5):
        h, _ = m.rnn(seq)
        step = m.head(h[:, -1])
        torch.testing.assert_close(out[:, k], step, atol=1e-10, rtol=1e-10)
        seq = torch.cat([seq, step[:, None]], 1)


@pytest.mark.parametrize("mode", ["direct", "recursive", "segrnn"])
def test_instance_norm_makes_forecasts_equivariant(mode, double):
    """RevIN: forecast(a x + b) = a forecast(x) + b; last-value: shifts pass through."""
    x = torch.randn(4, 24, 2)
    revin = Forecaster(2, 24, 6, mode=mode, hidden_size=8, segment_length=8, norm="revin").eval()
    # exact but for RevIN's eps inside the std: sqrt(var + 1e-5)
    torch.testing.assert_close(revin(3 * x + 5), 3 * revin(x) + 5, atol=1e-4, rtol=1e-4)
    last = Forecaster(2, 24, 6, mode=mode, hidden_size=8, segment_length=8, norm="last").eval()
    torch.testing.assert_close(last(x - 7), last(x) - 7, atol=1e-8, rtol=1e-8)


@pytest.mark.parametrize("mode", ["direct", "recursive", "segrnn"])
@pytest.mark.parametrize("output", ["point", "gaussian", "quantile"])
def test_shapes_with_covariates(mode, output):
    target = None if mode == "recursive" else [2]
    m = Forecaster(3, 20, 7, mode=mode, output=output, covariate_size=4, target_index=target,
                   hidden_size=8, segment_length=5, quantiles=(0.05, 0.5, 0.95))
    T = 3 if mode == "recursive" else 1
    out = m(torch.randn(6, 20, 7), torch.randn(6, 7, 4))
    tail = {"point": (), "gaussian": (2,), "quantile": (3,)}[output]
    assert out.shape == (6, 7, T, *tail)
    f = m.forecast(torch.randn(6, 20, 7), torch.randn(6, 7, 4))
    assert f.point.shape == (6, 7, T)
    if output != "point":
        assert f.lower.shape == f.upper.shape == (6, 7, T)
        assert bool((f.lower <= f.point).all() and (f.point <= f.upper).all())
        assert f.level == pytest.approx(0.9 if output == "quantile" else 0.8)
    m.loss(out, torch.randn(6, 7, T)).backward()


def test_future_covariates_change_the_forecast():
    m = Forecaster(1, 12, 4, mode="direct", covariate_size=2, hidden_size=8).eval()
    x = torch.randn(2, 12, 3)
    assert not torch.allclose(m(x, torch.zeros(2, 4, 2)), m(x, torch.ones(2, 4, 2)))


def test_losses_against_torch():
    mu, sigma, y = torch.randn(50), torch.rand(50) + 0.1, torch.randn(50)
    expected = nn.GaussianNLLLoss(full=True)(mu, y, sigma ** 2)
    torch.testing.assert_close(gaussian_nll(torch.stack([mu, sigma], -1), y), expected)
    pred = torch.tensor([[0.0, 1.0, 2.0]])
    # y = 1.5: q=0.1 under (0.1*1.5), q=0.5 under (0.5*0.5), q=0.9 over ((0.9-1)*-0.5)
    got = pinball_loss(pred, torch.tensor([1.5]), [0.1, 0.5, 0.9])
    assert got.item() == pytest.approx((0.15 + 0.25 + 0.05) / 3)


def test_gaussian_interval_uses_normal_quantiles():
    m = Forecaster(1, 8, 2, output="gaussian", hidden_size=4)
    out = torch.tensor([[[[1.0, 2.0]], [[0.0, 1.0]]]])  # (1, 2, 1, 2): mean, std
    lo, hi = m.interval(out, 0.95)
    z = 1.959963984540054
    torch.testing.assert_close(lo[0, :, 0], torch.tensor([1 - 2 * z, -z]))
    torch.testing.assert_close(hi[0, :, 0], torch.tensor([1 + 2 * z, z]))
    q = Forecaster(1, 8, 2, output="quantile", hidden_size=4, quantiles=(0.1, 0.5, 0.9))
    with pytest.raises(ValueError, match=r"a 0\.5 interval needs quantiles 0\.25 and 0\.75; this "
                                         r"model has 0\.1, 0\.5, 0\.9"):
        q.interval(torch.zeros(1, 2, 1, 3), 0.5)


def test_checkpoint_round_trip(tmp_path):
    m = Forecaster(3, 16, 4, mode="segrnn", hidden_size=8, segment_length=4, output="quantile",
                   target_index=[0, 2], covariate_size=2).eval()
    rnnkit.save(m, tmp_path / "ck", extras={"k": 1})
    back = rnnkit.load(tmp_path / "ck")
    x, fc = torch.randn(2, 16, 5), torch.randn(2, 4, 2)
    torch.testing.assert_close(back(x, fc), m(x, fc))
    assert back.config == m.config


def test_errors():
    with pytest.raises(ValueError, match=r"Forecaster: horizon must be a positive integer, got 0"):
        Forecaster(2, 10, 0)
    with pytest.raises(ValueError, match=r"Forecaster: mode='recursive' feeds its forecasts back, "
                                         r"so it must forecast every input channel; got "
                                         r"target_index=\[1\] of 2 channels"):
        Forecaster(2, 10, 3, mode="recursive", target_index=[1])
    with pytest.raises(ValueError, match=r"Forecaster: quantiles must be increasing levels in "
                                         r"\(0, 1\) including 0\.5, got \[0\.1, 0\.9\]"):
        Forecaster(2, 10, 3, output="quantile", quantiles=(0.1, 0.9))
    with pytest.raises(ValueError, match=r"Forecaster: unknown mode 'seq2seq'; expected one of "
                                         r"direct, recursive, segrnn"):
        Forecaster(2, 10, 3, mode="seq2seq")
    m = Forecaster(2, 10, 3, covariate_size=1)
    with pytest.raises(ValueError, match=r"Forecaster: expected input of shape \(B, 10, 3\) "
                                         r"\(lookback, channels \+ covariates\), got \(4, 10, 2\)"):
        m(torch.randn(4, 10, 2))
    with pytest.raises(ValueError, match=r"Forecaster: expected future covariates of shape "
                                         r"\(4, 3, 1\), got None"):
        m(torch.randn(4, 10, 3))
    with pytest.raises(ValueError, match=r"output='point' gives no intervals"):
        Forecaster(1, 5, 2).interval(torch.zeros(1, 2, 1))
    assert math.isfinite(Forecaster(1, 5, 2).default_level)
