"""Demo part: the seeds' second example — continue a seed phrase, word by word.

The seeds train Embedding → SimpleRNN → softmax on every prefix of five sentences (pre-padded,
next word as label) and suggest, as next steps, temperature sampling and an LSTM or GRU. Here:
sentences about rnnkit itself, a word-level ``LanguageModel`` with an LSTM trained by
``rnnkit.fit`` on ``prefix_dataset`` until it predicts every next word of its training
prefixes, then greedy and temperature continuations from ``rnnkit.generate`` — which carries
the recurrent state and feeds one new word per step instead of re-reading the context.
"""

from __future__ import annotations

import time

import torch

# every sentence starts with its own word, so each training prefix has one right next word
CORPUS = [
    "recurrent neural networks read a sequence one step at a time",
    "their hidden state carries what the network has seen so far",
    "an lstm keeps long memories with gates that decide what to forget",
    "a gru merges those gates into an update and a reset gate",
    "rnnkit writes every cell from its equations",
    "one layer runs any cell over time with the fused kernel of pytorch",
    "truncated backpropagation through time carries the state across chunks",
    "gradient clipping keeps exploding gradients from wrecking the weights",
    "text generation feeds one new token at a time with the state carried",
    "beam search keeps the best few continuations at every step",
    "temperature sampling makes the generated text more diverse",
    "language models predict the next word from the words before it",
]


def run(out_dir, seed: int = 0, quiet: bool = False) -> None:
    import rnnkit
    from rnnkit.data import EOS_ID, PAD_ID, WordTokenizer, prefix_dataset
    from rnnkit.generate import generate
    from rnnkit.models.language_model import LanguageModel, NextToken

    tok = WordTokenizer().fit(CORPUS)
    sentences = [tok.encode(s, add_eos=True) for s in CORPUS]
    x, y = prefix_dataset(sentences)  # every prefix, pre-padded with <pad>; next word as label
    T = x.shape[1]
    print(f"{len(CORPUS)} sentences, {tok.vocab_size} words: {len(x)} training prefixes "
          f"(pre-padded to {T}), e.g. {tok.decode(x[2], skip_specials=False)!r} -> "
          f"{tok.itos[int(y[2])]!r}")

    torch.manual_seed(seed)
    lm = LanguageModel(tok.vocab_size, hidden_size=96, embedding_dim=32, cell="lstm")
    t0 = time.perf_counter()

    def stop_when_perfect(event, info):  # stop as soon as every training prefix is right
        return event == "epoch_end" and info.get("accuracy", 0.0) >= 1.0

    history = rnnkit.fit(NextToken(lm), (x, y), epochs=200, batch_size=32, loss="cross_entropy",
                         lr=1e-2, metrics=["accuracy"], callbacks=[stop_when_perfect],
                         seed=seed, device="cpu", progress=False, time_budget=30)
    acc = rnnkit.evaluate(NextToken(lm), (x, y), loss="cross_entropy",
                          metrics=["accuracy"])["accuracy"]
    print(f"Embedding(32) -> LSTM(96) -> Linear({tok.vocab_size}) trained by rnnkit.fit: "
          f"{len(history)} epochs in {time.perf_counter() - t0:.1f} s; next-word accuracy on "
          f"the {len(x)} training prefixes: {acc:.0%}")

    def continue_(words: str, **sampling) -> str:
        prompt = tok.encode(words)
        # as the seeds do, the seed phrase is pre-padded to the training length; from there
        # the state carries on, one new word per step
        primed = [PAD_ID] * max(0, T - len(prompt)) + prompt
        new = generate(lm, primed, 20, eos_id=EOS_ID, **sampling)
        return tok.decode(prompt + new)

    exact = sum(continue_(s.split()[0], temperature=0) == s for s in CORPUS)
    print(f"greedy, from each sentence's first word: {exact} of {len(CORPUS)} training "
          "sentences reproduced, e.g.")
    for words in ("their", "beam", "rnnkit"):
        print(f"  {words!r:10} -> {continue_(words, temperature=0)}")
    print("seed phrases it never saw at a sentence start, greedy and with temperature "
          "(seeded):")
    for words in ("the state", "neural networks"):
        print(f"  {words!r:17} greedy -> {continue_(words, temperature=0)}")
        for temperature in (0.7, 1.5):
            print(f"  {words!r:17} T={temperature:<4} -> "
                  f"{continue_(words, temperature=temperature, seed=seed)}")
