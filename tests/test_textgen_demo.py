"""The seeds' second example (``rnnkit demo --only textgen``): 100 % on its training prefixes."""

from rnnkit.demos import textgen


def test_demo_learns_every_training_prefix_and_continues_its_sentences(tmp_path, capsys):
    textgen.run(tmp_path, seed=0, quiet=True)
    out = capsys.readouterr().out
    assert "next-word accuracy on the 126 training prefixes: 100%" in out
    assert "12 of 12 training sentences reproduced" in out
    assert "'beam'     -> beam search keeps the best few continuations at every step" in out
