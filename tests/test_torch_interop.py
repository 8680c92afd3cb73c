"""torch.nn hand-off (issue 15 item 5): ``layer.to_torch()`` and ``RNN.from_torch(module)``
against torch.nn's own outputs in float64, and the refusals for what torch.nn cannot express."""

import itertools

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import rnnkit
from rnnkit import RNN

B, T, I, H = 3, 6, 5, 4
LENGTHS = torch.tensor([6, 2, 4])
ATOL = 1e-12
KINDS = [("rnn", {}), ("rnn", {"activation": "relu"}), ("irnn", {}), ("lstm", {}),
         ("gru", {})]
CONFIGS = list(itertools.product(range(len(KINDS)), [1, 2], [False, True], [True, False],
                                 [0.0, 0.3]))


def torch_run(module, x, lengths):
    if lengths is None:
        return module(x)
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    out, final = module(packed)
    return pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])[0], final


def leaves(s):
    return list(s) if isinstance(s, tuple) else [s]


@pytest.mark.parametrize("k,layers,bi,bias,dropout", CONFIGS)
def test_to_torch_and_back_equal_in_float64(double, k, layers, bi, bias, dropout):
    kind, kw = KINDS[k]
    if dropout and layers == 1:  # a setting that does nothing: a warning, as torch.nn gives
        with pytest.warns(UserWarning, match=r"does nothing with num_layers=1"):
            ours = RNN(kind, I, H, layers, bidirectional=bi, bias=bias, dropout=dropout, **kw)
    else:
        ours = RNN(kind, I, H, layers, bidirectional=bi, bias=bias, dropout=dropout, **kw)
    ours.eval()
    ref = ours.to_torch()
    expected = {"lstm": nn.LSTM, "gru": nn.GRU}.get(kind, nn.RNN)
    assert type(ref) is expected and ref.batch_first and not ref.training
    assert (ref.num_layers, ref.bidirectional, ref.bias) == (layers, bi, bias)
    assert ref.dropout == (dropout if layers > 1 else 0.0)  # one layer: no effect either way
    assert next(ref.parameters()).dtype == torch.float64
    back = RNN.from_torch(ref).eval()
    assert back.kind == ("rnn" if kind == "irnn" else kind)
    x = torch.randn(B, T, I)
    for lengths in (None, LENGTHS):
        want, want_final = torch_run(ref, x, lengths)
        for layer in (ours, back):
            out, final = layer(x, lengths=lengths)
            torch.testing.assert_close(out, want, atol=ATOL, rtol=0)
            for a, b in zip(leaves(final), leaves(want_final), strict=True):
                torch.testing.assert_close(a, b, atol=ATOL, rtol=0)


def test_from_torch_of_a_fresh_module_and_a_time_major_one(double):
    ref = nn.GRU(I, H, 2, bidirectional=True)  # batch_first=False: ours takes (B, T, I)
    ours = RNN.from_torch(ref)
    x = torch.randn(B, T, I)
    torch.testing.assert_close(ours(x)[0], ref(x.transpose(0, 1))[0].transpose(0, 1),
                               atol=ATOL, rtol=0)
    assert ours.training  # the module's mode comes along
    gradients = RNN.from_torch(nn.LSTM(I, H, batch_first=True))
    out, _ = gradients(x)
    out.sum().backward()
    assert all(p.grad is not None for p in gradients.parameters())


class MyLSTMCell(rnnkit.LSTMCell):
    """A subclass may change the equations: never handed to torch.nn."""


def test_a_factory_of_exact_built_in_cells_converts(double):
    layer = RNN(lambda i, h: rnnkit.LSTMCell(i, h), I, H)
    x = torch.randn(B, T, I)
    torch.testing.assert_close(layer.to_torch()(x)[0], layer(x)[0], atol=ATOL, rtol=0)


@pytest.mark.parametrize("make, message", [
    (lambda: RNN("rnn", I, H, activation="sigmoid"),
     r"^SimpleRNN.to_torch: a SimpleRNN with activation sigmoid has no torch.nn equivalent "
     r"\(torch.nn.RNN offers tanh and relu\)$"),
    (lambda: RNN("gru", I, H, reset_after=False),
     r"^GRU.to_torch: a GRU with reset_after=False \(Cho et al.'s form\) has no torch.nn "
     r"equivalent"),
    (lambda: RNN("mingru", I, H), r"^MinGRU.to_torch: MinGRUCell has no torch.nn equivalent"),
    (lambda: RNN(MyLSTMCell, I, H),
     r"^RNN\(MyLSTMCell\).to_torch: MyLSTMCell has no torch.nn equivalent"),
])
def test_to_torch_refuses_saying_why(make, message):
    with pytest.raises(ValueError, match=message):
        make().to_torch()


def test_from_torch_refusals():
    with pytest.raises(ValueError, match=r"^RNN.from_torch: an LSTM with proj_size=2 has no "
                                         r"rnnkit equivalent"):
        RNN.from_torch(nn.LSTM(I, H, proj_size=2))
    with pytest.raises(ValueError, match=r"^RNN.from_torch: expected a torch.nn.RNN, LSTM or "
                                         r"GRU, got Linear$"):
        RNN.from_torch(nn.Linear(2, 2))


def test_load_torch_state_dict_checks_shapes():
    ours = RNN("lstm", I, H)
    with pytest.raises(ValueError, match=r"^LSTM: torch state dict's 'weight_ih_l0' has shape "
                                         r"\(16, 3\), expected \(16, 5\)$"):
        ours.load_torch_state_dict(nn.LSTM(3, H).state_dict())


def test_load_torch_state_dict_refuses_keys_it_has_no_place_for():
    """A 2-layer torch LSTM into a 1-layer layer: refused, as load_state_dict refuses
    unexpected keys, and nothing copied (layer 1 was dropped silently before)."""
    ours = RNN("lstm", I, H)
    before = {k: v.clone() for k, v in ours.state_dict().items()}
    with pytest.raises(ValueError, match=r"^LSTM: torch state dict has keys this layer has no "
                                         r"place for: 'bias_hh_l1', 'bias_ih_l1', "):
        ours.load_torch_state_dict(nn.LSTM(I, H, 2).state_dict())
    for k, v in ours.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_to_torch_with_recurrent_dropout_only_in_eval():
    """recurrent_dropout has no torch.nn option: in training the two would differ, so
    to_torch refuses there; in eval mode they are equal."""
    ours = RNN("lstm", I, H, recurrent_dropout=0.3)
    with pytest.raises(ValueError, match=r"^LSTM.to_torch: recurrent_dropout, which torch.nn "
                                         r"has no option for, acts in training; call .eval"):
        ours.to_torch()
    ref = ours.eval().to_torch()
    x = torch.randn(2, 6, I)
    torch.testing.assert_close(ref(x)[0], ours(x)[0])
