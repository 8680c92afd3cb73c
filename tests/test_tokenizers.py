"""Tokenizers: round trips, vocabulary options, specials, padding and JSON save/load."""

import json

import pytest
import torch

from rnnkit.data import (
    BOS_ID,
    EOS_ID,
    PAD_ID,
    UNK_ID,
    CharTokenizer,
    WordTokenizer,
    pad_sequences,
    tokenizer_from_dict,
)

TEXT = "First Citizen:\nBefore we proceed any further, hear me speak.\n\tÆsop's «fables» — 42!\n"


def test_char_round_trip_is_exact():
    tok = CharTokenizer().fit(TEXT)
    assert tok.decode(tok.encode(TEXT)) == TEXT
    assert tok.vocab_size == 4 + len(set(TEXT))
    # code-point order after the specials, as char-rnn numbers characters
    assert tok.itos[4:] == sorted(set(TEXT))
    assert tok.itos[:4] == ["<pad>", "<unk>", "<bos>", "<eos>"]


def test_char_unknown_and_specials():
    tok = CharTokenizer().fit("abc")
    assert tok.encode("abz") == [4, 5, UNK_ID]
    assert tok.unknown("xabzx!") == ["x", "z", "!"]
    assert tok.encode("ab", add_bos=True, add_eos=True) == [BOS_ID, 4, 5, EOS_ID]
    assert tok.decode([BOS_ID, 4, PAD_ID, 5, EOS_ID]) == "ab"
    assert tok.decode([4, UNK_ID]) == "a<unk>"
    assert tok.decode([BOS_ID, 4], skip_specials=False) == "<bos>a"


def test_char_min_freq_and_max_size():
    text = "aaaabbbcc d"
    assert CharTokenizer(min_freq=3).fit(text).itos[4:] == ["a", "b"]
    assert CharTokenizer(max_size=6).fit(text).itos[4:] == ["a", "b"]
    assert CharTokenizer(lower=True).fit("AbA").itos[4:] == ["a", "b"]


def test_word_tokenize_punctuation_modes():
    text = "Don't stop: the long-term plan, (now)!"
    assert WordTokenizer().tokenize(text) == [
        "don't", "stop", ":", "the", "long-term", "plan", ",", "(", "now", ")", "!"]
    assert WordTokenizer(punctuation="strip").tokenize(text) == [
        "don't", "stop", "the", "long-term", "plan", "now"]
    assert WordTokenizer(punctuation="keep", lower=False).tokenize(text) == [
        "Don't", "stop:", "the", "long-term", "plan,", "(now)!"]


def test_word_vocabulary_order_and_limits():
    texts = ["the cat sat", "the dog sat", "a cat ran", "the end"]
    tok = WordTokenizer().fit(texts)
    # most frequent first; ties in order of first appearance
    assert tok.itos[4:] == ["the", "cat", "sat", "dog", "a", "ran", "end"]
    assert WordTokenizer(min_freq=2).fit(texts).itos[4:] == ["the", "cat", "sat"]
    small = WordTokenizer(max_size=6).fit(texts)
    assert small.itos[4:] == ["the", "cat"]
    assert small.encode("the dog") == [4, UNK_ID]


def test_word_round_trip_up_to_case_and_spacing():
    tok = WordTokenizer().fit("The sky is blue. Is it (really) blue, or grey?")
    assert tok.decode(tok.encode("The sky is blue, or grey?")) == "the sky is blue, or grey?"
    assert tok.decode(tok.encode("(really) blue.")) == "(really) blue."
    assert tok.decode(tok.encode("sky", add_eos=True)) == "sky"


def test_encode_batch_pads_with_zero_on_either_side():
    tok = WordTokenizer().fit("a b c")
    ids, lengths = tok.encode_batch(["a b c", "b", ""])
    assert ids.tolist() == [[4, 5, 6], [5, 0, 0], [UNK_ID, 0, 0]]
    assert lengths.tolist() == [3, 1, 1]
    ids, _ = tok.encode_batch(["a b c", "b"], padding="left", max_length=2)
    assert ids.tolist() == [[4, 5], [0, 5]]
    ids, lengths = pad_sequences([[7, 8, 9], [1]], length=2, padding="left")
    assert ids.tolist() == [[8, 9], [0, 1]] and lengths.tolist() == [2, 1]


@pytest.mark.parametrize("tok", [
    CharTokenizer(lower=True, min_freq=1),
    WordTokenizer(lower=False, punctuation="strip", max_size=20, min_freq=1),
])
def test_json_save_load_round_trip(tok, tmp_path):
    tok.fit(TEXT)
    path = tmp_path / "tok.json"
    path.write_text(json.dumps(tok.to_dict()))
    back = tokenizer_from_dict(json.loads(path.read_text()))
    assert type(back) is type(tok)
    assert back.to_dict() == tok.to_dict()
    assert back.encode(TEXT) == tok.encode(TEXT)
    assert back.decode(back.encode(TEXT)) == tok.decode(tok.encode(TEXT))
    assert type(tok).from_dict(tok.to_dict()).itos == tok.itos


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match=r"^WordTokenizer: punctuation must be one of split, "
                                         r"strip, keep, got 'drop'$"):
        WordTokenizer(punctuation="drop")
    with pytest.raises(ValueError, match=r"^CharTokenizer: max_size must be an integer above 4"):
        CharTokenizer(max_size=4)
    with pytest.raises(ValueError, match=r"^WordTokenizer: min_freq must be a positive integer, "
                                         r"got 0$"):
        WordTokenizer(min_freq=0)
    with pytest.raises(ValueError, match=r"^WordTokenizer.fit: no token occurs at least "
                                         r"min_freq=2 times in the text$"):
        WordTokenizer(min_freq=2).fit("a b c")
    with pytest.raises(ValueError, match=r"^CharTokenizer.decode: id 99 outside the vocabulary "
                                         r"\[0, 7\)$"):
        CharTokenizer().fit("abc").decode([99])
    with pytest.raises(ValueError, match=r"^CharTokenizer.from_dict: expected type "
                                         r"'CharTokenizer', got 'WordTokenizer'$"):
        CharTokenizer.from_dict(WordTokenizer().fit("a").to_dict())
    with pytest.raises(ValueError, match=r"^tokenizer_from_dict: expected type CharTokenizer or "
                                         r"WordTokenizer, got 'BPE'$"):
        tokenizer_from_dict({"type": "BPE"})


def test_decode_accepts_tensors():
    tok = CharTokenizer().fit("xyz")
    assert tok.decode(torch.tensor(tok.encode("zyx"))) == "zyx"
