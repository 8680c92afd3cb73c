"""One interface suite over every cell kind, built-in and user-written: the contract
``y_t, state = cell(x_t, state)`` / ``init_state``, gradcheck, the layer over the cell equal
to a manual step loop (with padding), streaming equal to the whole sequence, every backend
equal, and state dicts that round-trip."""

import pytest
import torch
from torch import nn

from rnnkit import (
    RNN,
    GRUCell,
    LayerNormGRUCell,
    LayerNormLSTMCell,
    LSTMCell,
    MinGRUCell,
    MinLSTMCell,
    SimpleRNNCell,
    state_tree,
)

B, T, I, H = 3, 5, 4, 6
LENGTHS = torch.tensor([5, 2, 4])
ATOL = 1e-10


class IndRNNCell(nn.Module):
    """A user cell, no rnnkit base class (Li et al. 2018, IndRNN):
    h' = relu(W x + u ⊙ h + b); its state is a (B, H) tensor."""

    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.linear = nn.Linear(input_size, hidden_size)
        self.u = nn.Parameter(torch.rand(hidden_size))

    def init_state(self, batch_size, device=None, dtype=None):
        return torch.zeros(batch_size, self.hidden_size, device=device, dtype=dtype)

    def forward(self, x_t, h):
        h = torch.relu(self.linear(x_t) + self.u * h)
        return h, h


class TwoStateCell(nn.Module):
    """A user cell whose state is a (h, c) pair like the LSTM's (a leaky integrator)."""

    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.hidden_size = hidden_size
        self.linear = nn.Linear(input_size + hidden_size, hidden_size)

    def init_state(self, batch_size, device=None, dtype=None):
        h = torch.zeros(batch_size, self.hidden_size, device=device, dtype=dtype)
        return h, torch.zeros_like(h)

    def forward(self, x_t, state):
        h, c = state
        c = 0.5 * c + torch.tanh(self.linear(torch.cat([x_t, h], -1)))
        h = torch.sigmoid(c)
        return h, (h, c)


CELLS = {
    "rnn-tanh": lambda i, h: SimpleRNNCell(i, h),
    "rnn-relu": lambda i, h: SimpleRNNCell(i, h, activation="relu"),
    "rnn-sigmoid": lambda i, h: SimpleRNNCell(i, h, activation="sigmoid"),
    "rnn-callable": lambda i, h: SimpleRNNCell(i, h, activation=nn.functional.softsign),
    "lstm": lambda i, h: LSTMCell(i, h),
    "lstm-keras": lambda i, h: LSTMCell(i, h, init="keras"),
    "gru": lambda i, h: GRUCell(i, h),
    "gru-reset-before": lambda i, h: GRUCell(i, h, reset_after=False),
    "gru-nobias": lambda i, h: GRUCell(i, h, bias=False),
    "mingru": lambda i, h: MinGRUCell(i, h),
    "minlstm": lambda i, h: MinLSTMCell(i, h),
    "ln-lstm": lambda i, h: LayerNormLSTMCell(i, h),
    "ln-gru": lambda i, h: LayerNormGRUCell(i, h),
    "user-indrnn": IndRNNCell,
    "user-two-state": TwoStateCell,
}
KINDS = {"rnn-tanh": ("rnn", {}), "rnn-relu": ("rnn", {"activation": "relu"}),
         "rnn-sigmoid": ("rnn", {"activation": "sigmoid"}), "lstm": ("lstm", {}),
         "lstm-keras": ("lstm", {"init": "keras"}), "gru": ("gru", {}),
         "gru-reset-before": ("gru", {"reset_after": False}), "gru-nobias": ("gru", {"bias": False}),
         "mingru": ("mingru", {}), "minlstm": ("minlstm", {}), "ln-lstm": ("ln_lstm", {}),
         "ln-gru": ("ln_gru", {})}


def manual_loop(cell, x, state, lengths=None):
    """The definition: step the cell; past a sequence's end hold the state, output zero."""
    outs = []
    for t in range(x.shape[1]):
        y, new = cell(x[:, t], state)
        if lengths is not None:
            alive = (t < lengths).unsqueeze(-1)
            new = state_tree.tree_map(lambda n, o, a=alive: torch.where(a, n, o), new, state)
            y = y * alive
        state = new
        outs.append(y)
    return torch.stack(outs, 1), state


def positive(state):
    return state_tree.tree_map(lambda s: s.abs() + 0.1, state)  # min cells: states are >= 0


@pytest.mark.parametrize("name", list(CELLS))
def test_contract_init_state_and_one_step(double, name):
    cell = CELLS[name](I, H)
    state = cell.init_state(B, dtype=torch.float64)
    for leaf in state_tree.leaves(state):
        assert leaf.shape == (B, H) and leaf.dtype == torch.float64 and not leaf.any()
    x = torch.randn(B, I)
    y, new = cell(x, state)
    assert y.shape == (B, H)
    assert state_tree.structure(new) == state_tree.structure(state)
    if not name.startswith("user"):  # built-in cells accept None for a zero state
        y0, new0 = cell(x, None)
        torch.testing.assert_close(y0, y, atol=0, rtol=0)


@pytest.mark.parametrize("name", list(CELLS))
def test_gradcheck_one_step(double, name):
    cell = CELLS[name](2, 3)
    x = torch.randn(2, 2, requires_grad=True)
    state = positive(cell.init_state(2))
    flat = [s.clone().requires_grad_() for s in state_tree.leaves(state)]

    def step(x, *leaves):
        y, new = cell(x, state_tree.unflatten(state, leaves))
        return (y, *state_tree.leaves(new))

    assert torch.autograd.gradcheck(step, (x, *flat))


@pytest.mark.parametrize("name", list(CELLS))
def test_layer_over_the_cell_equals_the_manual_loop_with_padding(double, name):
    cell = CELLS[name](I, H)
    layer = RNN(cell, I, H)
    x = torch.randn(B, T, I)
    s0 = positive(cell.init_state(B))
    state = state_tree.tree_map(lambda s: s.unsqueeze(0), s0)  # (1, B, H): torch.nn's layout
    for lengths in (None, LENGTHS):
        out, final = layer(x, state, lengths=lengths)
        want, want_final = manual_loop(cell, x, s0, lengths)
        torch.testing.assert_close(out, want, atol=ATOL, rtol=0)
        torch.testing.assert_close(state_tree.index(final, 0), want_final, atol=ATOL, rtol=0)


@pytest.mark.parametrize("name", list(CELLS))
def test_streaming_equals_the_whole_sequence_two_layers(double, name):
    layer = RNN(CELLS[name], I, H, num_layers=2)
    x = torch.randn(B, T, I)
    out, final = layer(x)
    state, steps = None, []
    for x_t in x.unbind(1):
        y, state = layer.step(x_t, state)
        steps.append(y)
    torch.testing.assert_close(torch.stack(steps, 1), out, atol=ATOL, rtol=0)
    for a, b in zip(state_tree.leaves(state), state_tree.leaves(final), strict=True):
        torch.testing.assert_close(a, b, atol=ATOL, rtol=0)


@pytest.mark.parametrize("name", list(KINDS))
def test_every_backend_gives_the_same_numbers(double, name):
    kind, kw = KINDS[name]
    ref = RNN(kind, I, H, 2, bidirectional=True, backend="loop", **kw)
    x = torch.randn(B, T, I)
    want = ref(x, lengths=LENGTHS)
    backends = ["auto"] + (["fused"] if ref._fused_mode else []) + (
        ["scan"] if ref._scannable else [])
    for backend in backends:
        other = RNN(kind, I, H, 2, bidirectional=True, backend=backend, **kw)
        other.load_state_dict(ref.state_dict())
        got = other(x, lengths=LENGTHS)
        torch.testing.assert_close(got[0], want[0], atol=ATOL, rtol=0)
        for a, b in zip(state_tree.leaves(got[1]), state_tree.leaves(want[1]), strict=True):
            torch.testing.assert_close(a, b, atol=ATOL, rtol=0)


@pytest.mark.parametrize("name", list(CELLS))
def test_state_dict_round_trip(name):
    a = RNN(CELLS[name], I, H, bidirectional=True)
    torch.manual_seed(123)
    b = RNN(CELLS[name], I, H, bidirectional=True)
    b.load_state_dict(a.state_dict())
    x = torch.randn(B, T, I)
    torch.testing.assert_close(a(x)[0], b(x)[0], atol=0, rtol=0)
