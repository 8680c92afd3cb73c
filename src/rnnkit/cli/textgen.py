"""``rnnkit textgen train|sample``: char- or word-level language models on a text file.

A thin layer over ``rnnkit.textgen``: parse, read and check the input (before anything is
written), call the function, print the result.
"""

from __future__ import annotations

import argparse
import sys

from .common import UsageError, add_common, examples, new_parser

EXAMPLES = (
    "rnnkit textgen train --text ../shared/data/tinyshakespeare/input.txt --minutes 5 "
    "--checkpoint runs/shakespeare",
    "rnnkit textgen train --text notes.txt --level word --cell gru --layers 2 --hidden 256 "
    "--epochs 20 --checkpoint runs/notes",
    'rnnkit textgen sample --checkpoint runs/shakespeare --prompt "ROMEO:" --temperature 0.8 '
    "--top-k 40 --length 500",
    'rnnkit textgen sample --checkpoint runs/notes --prompt "recurrent networks" --beam 5',
)


def _positive_int(s: str) -> int:
    try:
        v = int(s)
    except ValueError:
        v = 0
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {s!r}")
    return v


def register(subparsers) -> None:
    from ..textgen import TextGenConfig

    d = TextGenConfig()
    p = new_parser(subparsers, "textgen",
                   help="train a language model on a text file and generate text from it",
                   epilog=examples(*EXAMPLES))
    actions = p.add_subparsers(dest="action", metavar="ACTION")

    t = new_parser(actions, "train",
                   help="train a char- or word-level language model; keep the best checkpoint",
                   epilog=examples(EXAMPLES[0], EXAMPLES[1]))
    t.add_argument("--text", required=True, metavar="FILE", help="the training text file")
    t.add_argument("--encoding", default="utf-8", metavar="NAME",
                   help="the text file's encoding (default utf-8; e.g. latin-1, cp1252)")
    t.add_argument("--checkpoint", required=True, metavar="DIR",
                   help="folder for the best model (created; overwritten when it improves)")
    t.add_argument("--level", choices=("char", "word"), default=d.level,
                   help="tokens: characters (default) or words (lines end with <eos>)")
    t.add_argument("--cell", choices=("lstm", "gru", "rnn"), default=d.cell,
                   help=f"recurrent cell (default {d.cell})")
    t.add_argument("--layers", type=_positive_int, default=d.num_layers, dest="num_layers",
                   metavar="N", help=f"stacked recurrent layers (default {d.num_layers})")
    t.add_argument("--hidden", type=_positive_int, default=d.hidden_size, dest="hidden_size",
                   metavar="N", help=f"hidden size of each layer (default {d.hidden_size})")
    t.add_argument("--embedding", type=_positive_int, default=None, dest="embedding_dim",
                   metavar="N",
                   help="embedding size (default 64 for characters, the hidden size for words)")
    t.add_argument("--dropout", type=float, metavar="X", default=d.dropout,
                   help=f"dropout between layers and before the output, in [0, 1) "
                        f"(default {d.dropout})")
    t.add_argument("--embedding-dropout", type=float, metavar="X", default=None,
                   help="dropout on the embeddings (default: the same as --dropout; 0 often "
                        "suits characters)")
    t.add_argument("--tie-weights", action="store_true",
                   help="share the embedding with the output layer (embedding = hidden size)")
    budget = t.add_mutually_exclusive_group()
    budget.add_argument("--minutes", type=float, default=None, metavar="X",
                        help="train for this much wall-clock time (lr decays over it)")
    budget.add_argument("--epochs", type=_positive_int, default=None, metavar="N",
                        help="passes over the training text (default 10 without --minutes)")
    t.add_argument("--seq-len", type=_positive_int, metavar="N", default=d.seq_len,
                   help=f"truncated-BPTT length in tokens (default {d.seq_len})")
    t.add_argument("--batch-size", type=_positive_int, metavar="N", default=d.batch_size,
                   help=f"parallel streams per batch (default {d.batch_size})")
    t.add_argument("--lr", type=float, metavar="X", default=d.lr,
                   help=f"peak Adam lr (default {d.lr})")
    t.add_argument("--weight-decay", type=float, metavar="X", default=d.weight_decay,
                   help="> 0: AdamW with this decoupled weight decay (default 0: Adam)")
    t.add_argument("--schedule", choices=("cosine", "linear", "constant"), default=d.schedule,
                   help=f"lr over the run (default {d.schedule})")
    t.add_argument("--clip-norm", type=float, metavar="X", default=d.clip_norm,
                   help=f"gradient-norm clipping (default {d.clip_norm})")
    t.add_argument("--precision", choices=("fp32", "bf16"), default=d.precision,
                   help="bf16: train under autocast (faster on CPUs with AVX-512 BF16 or AMX; "
                        f"weights stay float32) (default {d.precision})")
    t.add_argument("--val-fraction", type=float, metavar="X", default=d.val_fraction,
                   help="the last share of the text used for validation (default 0.1)")
    t.add_argument("--lower", action="store_true", help="lower-case the text first")
    t.add_argument("--min-freq", type=_positive_int, metavar="N", default=d.min_freq,
                   help="word level: words seen fewer times become <unk> (default 1)")
    t.add_argument("--max-vocab", type=_positive_int, metavar="N", default=None,
                   help="word level: keep at most this many tokens")
    t.add_argument("--sample-length", type=int, metavar="N", default=200,
                   help="tokens in the sample printed after each epoch (default 200)")
    add_common(t)
    t.set_defaults(run=run_train)

    s = new_parser(actions, "sample", help="continue a prompt with a trained model",
                   epilog=examples(EXAMPLES[2], EXAMPLES[3]))
    s.add_argument("--checkpoint", required=True, metavar="DIR", help="a textgen checkpoint")
    s.add_argument("--prompt", default="",
                   help="text to continue (default: start a new line)")
    s.add_argument("--length", type=_positive_int, metavar="N", default=500,
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
    p.set_defaults(run=lambda args: _no_action(p))


def _no_action(parser) -> int:
    parser.print_help()
    return 2


def run_train(args) -> int:
    from ..data.text import read_text
    from ..textgen import TextGenConfig, train_text

    config = TextGenConfig(
        level=args.level, cell=args.cell, num_layers=args.num_layers,
        hidden_size=args.hidden_size, embedding_dim=args.embedding_dim, dropout=args.dropout,
        embedding_dropout=args.embedding_dropout, tie_weights=args.tie_weights,
        seq_len=args.seq_len, batch_size=args.batch_size,
        lr=args.lr, weight_decay=args.weight_decay, schedule=args.schedule,
        clip_norm=args.clip_norm, precision=args.precision,
        val_fraction=args.val_fraction, lower=args.lower, min_freq=args.min_freq,
        max_vocab=args.max_vocab)
    if args.minutes is not None and not args.minutes > 0:
        raise UsageError(f"--minutes must be > 0, got {args.minutes}")
    if args.sample_length < 0:
        raise UsageError(f"--sample-length must be >= 0, got {args.sample_length}")
    text = read_text(args.text, encoding=args.encoding)
    result = train_text(text, args.checkpoint, config, epochs=args.epochs, minutes=args.minutes,
                        seed=args.seed, device=args.device, quiet=args.quiet,
                        sample_length=args.sample_length)
    unit = "char" if args.level == "char" else "word"
    print(f"best validation loss {result['best_val_loss']:.4f} nats/{unit} "
          f"(epoch {result['best_epoch']} of {result['epochs']}); saved {args.checkpoint}/")
    return 0


def run_sample(args) -> int:
    from ..generate import check_sampling
    from ..textgen import encode_prompt, load_text_model, sample_text

    # every setting is checked before the model is read or a character is printed
    check_sampling(args.temperature, args.top_k, args.top_p, args.repetition_penalty)
    if args.beam is not None and args.beam < 1:
        raise UsageError(f"--beam must be an integer >= 1, got {args.beam}")
    model, tok, _ = load_text_model(args.checkpoint, device=args.device)
    encode_prompt(tok, args.prompt)
    pieces = sample_text(model, tok, args.prompt, args.length, temperature=args.temperature,
                         top_k=args.top_k, top_p=args.top_p,
                         repetition_penalty=args.repetition_penalty, beam=args.beam,
                         length_penalty=args.length_penalty, stop_at_eos=not args.no_stop,
                         seed=args.seed)
    for piece in pieces:
        sys.stdout.write(piece)
        sys.stdout.flush()
    sys.stdout.write("\n")
    return 0
