"""``rnnkit textgen train|sample|evaluate``: char- or word-level language models on a text file.

A thin layer over ``rnnkit.apps.textgen``: the training flags are built from its ``Config``;
each action parses, calls the application, prints.
"""

from __future__ import annotations

import sys

from .common import add_common, add_training_flags, examples, new_parser, no_action
from .config_flags import config_from_args

EXAMPLES = (
    "rnnkit textgen train --text examples/data/notes.txt --minutes 1 --checkpoint runs/notes",
    "rnnkit textgen train --text $RNNKIT_DATA/tinyshakespeare/input.txt --minutes 5 "
    "--checkpoint runs/shakespeare",
    "rnnkit textgen train --text examples/data/notes.txt --level word --cell gru --num-layers 2 "
    "--hidden-size 128 --epochs 10 --checkpoint runs/notes-words",
    'rnnkit textgen sample --checkpoint runs/notes --prompt "The old" --length 200',
    'rnnkit textgen sample --checkpoint runs/shakespeare --prompt "ROMEO:" --temperature 0.8 '
    "--top-k 40 --length 500",
    'rnnkit textgen sample --checkpoint runs/notes-words --prompt "the old sailor" --beam 5',
    "rnnkit textgen evaluate --checkpoint runs/shakespeare --text examples/data/notes.txt",
)

BEST_HELP = "folder for the best model (created; overwritten when it improves)"


def register(subparsers) -> None:
    p = new_parser(subparsers, "textgen",
                   help="train a language model on a text file and generate text from it",
                   epilog=examples(*EXAMPLES))
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    _register_train(actions)
    _register_sample(actions)
    e = new_parser(actions, "evaluate", help="nats per token of a trained model on a text file",
                   epilog=examples(EXAMPLES[6]))
    e.add_argument("--checkpoint", required=True, metavar="DIR", help="a textgen checkpoint")
    e.add_argument("--text", required=True, metavar="FILE", help="the text to score")
    e.add_argument("--encoding", default="utf-8", metavar="NAME", help="its encoding")
    add_common(e)
    e.set_defaults(run=run_evaluate)
    p.set_defaults(run=lambda args: no_action(p))


def _register_train(actions) -> None:
    from ..apps.textgen import Config

    t = new_parser(actions, "train",
                   help="train a char- or word-level language model; keep the best checkpoint",
                   epilog=examples(*EXAMPLES[:3]))
    t.add_argument("--text", required=True, metavar="FILE", help="the training text file")
    t.add_argument("--encoding", default="utf-8", metavar="NAME",
                   help="the text file's encoding (default utf-8; e.g. latin-1, cp1252)")
    add_training_flags(t, Config, BEST_HELP)
    t.set_defaults(run=run_train)


def _register_sample(actions) -> None:
    s = new_parser(actions, "sample", help="continue a prompt with a trained model",
                   epilog=examples(*EXAMPLES[3:6]))
    s.add_argument("--checkpoint", required=True, metavar="DIR", help="a textgen checkpoint")
    s.add_argument("--prompt", default="", help="text to continue (default: start a new line)")
    s.add_argument("--length", type=int, metavar="N", default=500,
                   help="new tokens at most (default 500)")
    s.add_argument("--temperature", type=float, metavar="X", default=1.0,
                   help="0 = greedy; below 1 safer, above 1 wilder (default 1.0)")
    s.add_argument("--top-k", type=int, metavar="N", default=None,
                   help="sample among the k likeliest")
    s.add_argument("--top-p", type=float, metavar="X", default=None,
                   help="sample among the likeliest tokens holding this much probability")
    s.add_argument("--repetition-penalty", type=float, metavar="X", default=1.0,
                   help="> 1 discourages tokens already in the text (default 1 = off)")
    s.add_argument("--beam", type=int, default=None, metavar="WIDTH",
                   help="beam search of this width instead of sampling")
    s.add_argument("--length-penalty", type=float, metavar="X", default=1.0,
                   help="beam search: rank by log p / length^this (default 1)")
    s.add_argument("--no-stop", action="store_true",
                   help="word level: continue past <eos> (shown as a line break)")
    add_common(s)
    s.set_defaults(run=run_sample)


def run_train(args) -> int:
    from ..apps import textgen

    config = config_from_args(textgen.Config, args)
    history = textgen.train(config, path=args.text, checkpoint_dir=args.checkpoint,
                            encoding=args.encoding, seed=args.seed, device=args.device,
                            quiet=args.quiet, resume=args.resume)
    if history.already_finished:  # resume of a finished run: its note is said
        return 0
    best = history.rows[history.best_epoch - 1]
    unit = "char" if config.level == "char" else "word"
    print(f"best validation loss {best['val_loss']:.4f} nats/{unit} "
          f"(epoch {history.best_epoch} of {len(history)}); saved {args.checkpoint}/")
    return 0


def run_sample(args) -> int:
    from ..apps import textgen
    from ..generate import check_sampling

    predictor = textgen.load(args.checkpoint, device=args.device)
    options = dict(temperature=args.temperature, top_k=args.top_k, top_p=args.top_p,
                   repetition_penalty=args.repetition_penalty, stop_at_eos=not args.no_stop,
                   seed=args.seed, include_prompt=True)
    check_sampling(args.temperature, args.top_k, args.top_p, args.repetition_penalty)
    for line in _sample_notes(args, predictor.tokenizer):  # bad input said before any note
        print(line, file=sys.stderr, flush=True)
    if args.beam is not None:
        pieces = [predictor.predict(args.prompt, args.length, beam=args.beam,
                                    length_penalty=args.length_penalty, **options)]
    else:
        pieces = predictor.stream(args.prompt, args.length, **options)  # checks come first
    for piece in pieces:
        sys.stdout.write(piece)
        sys.stdout.flush()
    sys.stdout.write("\n")
    return 0


def _sample_notes(args, tokenizer) -> list[str]:
    """What the output will not show (``--quiet``: nothing): prompt words read as ``<unk>``
    (word level; char level refuses unknown characters), sampling flags a beam does not use."""
    from ..data.tokenizers import WordTokenizer

    if args.quiet:
        return []
    notes = []
    unknown = tokenizer.unknown(args.prompt) if isinstance(tokenizer, WordTokenizer) else []
    if unknown:
        shown = ", ".join(map(repr, unknown[:10])) + (", ..." if len(unknown) > 10 else "")
        notes.append(f"note: {len(unknown)} prompt word(s) outside the vocabulary, read as "
                     f"<unk>: {shown}")
    unused = [flag for flag, used in (("--temperature", args.temperature != 1.0),
                                      ("--top-k", args.top_k is not None),
                                      ("--top-p", args.top_p is not None),
                                      ("--repetition-penalty", args.repetition_penalty != 1.0))
              if used]
    if args.beam is not None and args.beam > 1 and unused:
        notes.append(f"note: beam search keeps the most likely continuation; "
                     f"{', '.join(unused)} not used")
    return notes


def run_evaluate(args) -> int:
    from ..apps import textgen
    from ..data.text import read_text

    predictor = textgen.load(args.checkpoint, device=args.device)
    result = predictor.evaluate(read_text(args.text, encoding=args.encoding))
    unit = "char" if predictor.config.level == "char" else "word"
    print(f"loss {result['loss']:.4f} nats/{unit} (perplexity {result['perplexity']:.2f}) on "
          f"{result['tokens']:,} tokens of {args.text}")
    if result["unknown"]:
        print(f"note: {result['unknown']:,} of them are outside the model's vocabulary, scored "
              "as <unk>", file=sys.stderr)
    return 0
