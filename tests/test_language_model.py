"""LanguageModel: embedding -> rnnkit.RNN -> dropout -> linear, checked against torch.nn."""

import pytest
import torch
from torch import nn

from rnnkit.models.language_model import LanguageModel, NextToken


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_matches_torch_oracle_and_carries_state(cell, double):
    lm = LanguageModel(vocab_size=11, hidden_size=6, num_layers=2, cell=cell, embedding_dim=5)
    torch_rnn = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[cell](
        5, 6, num_layers=2, batch_first=True)
    torch_rnn.load_state_dict(lm.rnn.torch_state_dict())
    tokens = torch.randint(0, 11, (3, 8))
    logits, state = lm(tokens)
    ref, ref_state = torch_rnn(lm.embedding(tokens))
    assert torch.allclose(logits, lm.head(ref), atol=1e-10)
    # two calls carrying the state equal one call on the whole sequence
    first, s = lm(tokens[:, :5])
    second, s = lm(tokens[:, 5:], s)
    assert torch.allclose(torch.cat([first, second], 1), logits, atol=1e-10)
    pairs = zip(s, state, strict=True) if cell == "lstm" else [(s, state)]
    for a, b in pairs:
        assert torch.allclose(a, b, atol=1e-10)


def test_weight_tying_and_padding_row():
    lm = LanguageModel(vocab_size=9, hidden_size=8, tie_weights=True)
    assert lm.head.weight is lm.embedding.weight
    assert sum(p.numel() for p in lm.parameters()) == sum(
        p.numel() for p in LanguageModel(9, 8).parameters()) - 9 * 8
    assert torch.all(lm.embedding.weight[0] == 0)  # <pad> embeds to zero
    assert lm.config == dict(vocab_size=9, hidden_size=8, num_layers=1, cell="lstm",
                             embedding_dim=8, dropout=0.0, tie_weights=True, pad_id=0,
                             embedding_dropout=0.0)


def test_embedding_dropout_defaults_to_dropout_and_can_be_switched_off():
    assert LanguageModel(9, 8, dropout=0.3).embedding_dropout.p == 0.3
    lm = LanguageModel(9, 8, num_layers=2, dropout=0.3, embedding_dropout=0.0).train()
    assert (lm.embedding_dropout.p, lm.dropout.p, lm.rnn.dropout) == (0.0, 0.3, 0.3)
    seen = []
    lm.rnn.register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    tokens = torch.randint(1, 9, (2, 5))
    lm(tokens)
    assert torch.equal(seen[0], lm.embedding(tokens))  # the embeddings reach the RNN undropped
    with pytest.raises(ValueError, match="embedding_dropout must lie in"):
        LanguageModel(9, 8, embedding_dropout=1.0)


def test_next_token_view_shares_parameters():
    lm = LanguageModel(vocab_size=9, hidden_size=8)
    tokens = torch.randint(0, 9, (4, 6))
    assert torch.equal(NextToken(lm)(tokens), lm(tokens)[0][:, -1])
    assert list(NextToken(lm).parameters()) == list(lm.parameters())


def test_errors():
    with pytest.raises(ValueError, match=r"^LanguageModel: tie_weights needs embedding_dim == "
                                         r"hidden_size, got 4 and 8$"):
        LanguageModel(9, 8, embedding_dim=4, tie_weights=True)
    with pytest.raises(ValueError, match=r"^LanguageModel: expected integer tokens of shape "
                                         r"\(B, T\), got \(4,\)$"):
        LanguageModel(9, 8)(torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match=r"^LanguageModel: vocab_size must be a positive "
                                         r"integer, got 0$"):
        LanguageModel(0, 8)
