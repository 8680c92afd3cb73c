"""Tiny Shakespeare, char level: validation loss against wall-clock seconds on 2 CPU threads.

rnnkit's ``LanguageModel`` (the fused LSTM kernel) trained by ``rnnkit.fit`` with truncated
BPTT over contiguous streams, with ``rnnkit textgen``'s defaults unless flags say otherwise.
Protocol (the standard one, see ``../shared/data/README.md``): first 90 % of the characters
train, last 10 % validate; 65 characters. Two validation figures, in nats per character:

- stateful (the recurrent model's own): the *whole* validation split, read in ``--streams``
  contiguous parallel streams with the state carried (``rnnkit.apps.textgen.stream_loss``);
- blocks (the transformer-style one, nanoGPT's ``estimate_loss``): 1000 random 256-character
  blocks, each from a zero state, every position scored (``rnnkit.apps.textgen.block_loss``).

The clock counts training only: it is paused while the validation loss is measured. The lr
follows the run's schedule over the time budget (warm-up, then cosine decay).

    python benchmarks/shakespeare.py                       # 95 s with the defaults
    python benchmarks/shakespeare.py --seconds 900 --plot docs/shakespeare_loss.png
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, fields
from pathlib import Path

import torch

import rnnkit
from rnnkit.apps.textgen import (
    Clock,
    LRByProgress,
    TextGenConfig,
    block_loss,
    build_model,
    make_optimizer,
    stream_loss,
    trainable,
)
from rnnkit.data import CharTokenizer
from rnnkit.data.text import StreamBatches, data_root, read_text, split_text

# figures measured on this machine with the same split and 2 threads (issue 4): name ->
# [(seconds, stateful-or-block val loss)]; nanoGPT's are its own (block) estimate
ANCHORS = {
    "nanoGPT 4x128, ctx 64 (CPU config)": [(94, 1.886)],
    "nanoGPT 192 wide, ctx 128": [(900, 1.615), (1380, 1.539)],
    "torch.nn.LSTM 1x384 + Adam": [(94, 1.52)],
    "torch.nn.LSTM 2x512 + Adam": [(300, 1.466)],
}


class TimeSlice:
    """The training stream served until the training clock reaches ``stop_at``.

    Each pass (one ``fit`` epoch) continues the contiguous streams where the last one ended,
    wrapping around at the end of the training text, so ``fit``'s epochs are just the spans
    between two validation points (``fit`` resets the state at each, a negligible cost).
    """

    def __init__(self, batches: StreamBatches, clock: Clock, stops: list[float]):
        self.batches, self.clock, self.stops, self.pos = batches, clock, stops, 0

    def __iter__(self):
        stop = next((s for s in self.stops if s > self.clock()), 0.0)  # the next stop ahead
        while self.clock() < stop:
            yield self.batches[self.pos]
            self.pos = (self.pos + 1) % len(self.batches)  # advances only when asked again


NOT_FLAGS = ("level", "val_fraction", "lower", "min_freq", "max_vocab", "epochs", "minutes",
             "sample_length")


def parse_args(argv=None):
    d = TextGenConfig()
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=None,
                   help="input.txt (default $RNNKIT_DATA/tinyshakespeare/input.txt)")
    p.add_argument("--seconds", type=float, default=95.0, help="training budget (95)")
    p.add_argument("--eval-every", type=float, default=None,
                   help="seconds between validation points (default: budget / 10)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--streams", type=int, default=4, help="validation streams (4)")
    for f in fields(TextGenConfig):
        if f.name in NOT_FLAGS:  # fixed here, or the run length (--seconds says it)
            continue
        default, flag = getattr(d, f.name), "--" + f.name.replace("_", "-")
        if isinstance(default, bool):
            p.add_argument(flag, action="store_true", default=default)
        else:
            # the field's annotation, not its default: None defaults say nothing of the type
            kind = str if "str" in str(f.type) else float if "float" in str(f.type) else int
            p.add_argument(flag, type=kind, default=default)
    p.add_argument("--no-clip", action="store_true", help="no gradient clipping")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sample", type=int, default=600, help="characters sampled at the end")
    p.add_argument("--out", default=None, help="write the curve and figures as JSON here")
    p.add_argument("--plot", default=None, help="write the loss-vs-time PNG here")
    p.add_argument("--overlay", nargs="*", default=(),
                   help="JSON files of other runs (--out) to draw in the same plot")
    p.add_argument("--replot", action="store_true",
                   help="train nothing: draw the --overlay runs into --plot")
    return p.parse_args(argv)


def backend_of(rnn, batch: int, steps: int) -> str:
    """What ``backend="auto"`` runs for a training batch of ``batch`` x ``steps`` on this CPU
    and thread count (the LSTM's choice depends on the sizes: ``RNN._onednn_lstm_faster``)."""
    probe = torch.zeros(batch, steps, rnn.input_size)
    with torch.enable_grad():
        if rnn._use_compiled(probe):
            return "compiled"
    return "fused" if rnn._fused_mode else "loop"


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.replot:
        if not (args.plot and args.overlay):
            print("shakespeare: --replot needs --plot PNG and --overlay RUN.json ...",
                  file=sys.stderr)
            return 2
        plot([json.loads(Path(o).read_text()) for o in args.overlay], args.plot)
        print(f"wrote {args.plot}")
        return 0
    torch.set_num_threads(args.threads)
    path = Path(args.data) if args.data else data_root() / "tinyshakespeare" / "input.txt"
    if not path.is_file():
        print(f"shakespeare: {path} not found; set RNNKIT_DATA or pass --data", file=sys.stderr)
        return 2
    config = TextGenConfig(**{f.name: getattr(args, f.name) for f in fields(TextGenConfig)
                              if hasattr(args, f.name)})
    if args.no_clip:
        config.clip_norm = None
    config.check()
    text = read_text(path)
    train_text, val_text = split_text(text, 0.1)
    tok = CharTokenizer().fit(train_text)
    train_ids = torch.tensor(tok.encode(train_text))
    val_ids = torch.tensor(tok.encode(val_text))
    chars = tok.vocab_size - 4

    torch.manual_seed(args.seed)
    model = build_model(config, tok.vocab_size)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"Tiny Shakespeare: {len(train_ids):,} train / {len(val_ids):,} val characters, "
          f"{chars} distinct (+4 specials); torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
    print("config: " + ", ".join(f"{k}={v}" for k, v in asdict(config).items()
                                 if k not in NOT_FLAGS))
    print(f"model: {config.num_layers}x{config.hidden_size} {config.cell}, embedding "
          f"{config.embedding_size()}, {n_params:,} parameters, backend "
          f"{backend_of(model.rnn, config.batch_size, config.seq_len)}")

    budget = args.seconds
    every = args.eval_every or budget / 10
    stops = [min(budget, every * i) for i in range(1, int(budget / every + 0.999) + 1)]
    if args.eval_every is None and budget >= 300:
        stops = [10.0, 20.0, 45.0, 95.0] + [s for s in stops if s > 95.0]  # early points too
    if stops[-1] < budget:
        stops.append(budget)
    clock = Clock()
    batches = StreamBatches(train_ids, config.batch_size, config.seq_len)
    opt = make_optimizer(model, config)
    schedule = LRByProgress(opt, config, budget_s=budget, clock=clock)
    curve: list[dict] = []
    tokens_per_step = config.batch_size * config.seq_len
    steps = {"n": 0}

    cpu = {"train": 0.0, "mark": time.process_time(), "last_train": 0.0, "last_t": 0.0}

    def on_event(event, info):
        if event == "batch_end":
            steps["n"] += 1
            return None
        if event != "epoch_end" or (curve and curve[-1]["steps"] == steps["n"]):
            return None  # (an epoch with no step: the clock had already passed its stop)
        clock.pause()
        cpu["train"] += time.process_time() - cpu["mark"]
        t = clock()
        # CPU seconds per training second: ~2 when the run had both cores to itself
        span = max(t - cpu["last_t"], 1e-9)
        cores = (cpu["train"] - cpu["last_train"]) / span
        rate = (steps["n"] - (curve[-1]["steps"] if curve else 0)) * tokens_per_step / span
        cpu.update(last_train=cpu["train"], last_t=t)
        t0 = time.perf_counter()
        val = stream_loss(model, val_ids, num_streams=args.streams)
        eval_s = time.perf_counter() - t0
        curve.append({"seconds": round(t, 1), "val": val, "train": info["train_loss"],
                      "steps": steps["n"], "lr": info["lr"], "cores": round(cores, 2)})
        print(f"{t:7.1f} s  step {steps['n']:6d}  train {info['train_loss']:.4f}  "
              f"val {val:.4f} nats/char  ({rate:,.0f} chars/s and {cores:.2f} CPUs since the "
              f"last point; eval {eval_s:.1f} s)", flush=True)
        cpu["mark"] = time.process_time()
        clock.resume()
        return None

    load0 = os.getloadavg()  # other jobs on the same 2 cores slow the clock down
    wall0 = time.perf_counter()
    rnnkit.fit(trainable(model, config), TimeSlice(batches, clock, stops), epochs=len(stops),
               loss="cross_entropy", optimizer=opt, clip_norm=config.clip_norm,
               tbptt=config.seq_len, callbacks=(schedule, on_event), seed=args.seed,
               device="cpu", progress=False)
    wall = time.perf_counter() - wall0
    final = curve[-1]
    blocks = block_loss(model, val_ids, block_size=256, num_blocks=1000)
    print(f"load average (1, 5, 15 min) at the start: {load0[0]:.2f} {load0[1]:.2f} "
          f"{load0[2]:.2f}; at the end: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    print(f"\nafter {final['seconds']:.1f} s of training ({final['steps']} steps, "
          f"{final['steps'] * tokens_per_step / 1e6:.1f} M characters, "
          f"{final['steps'] * tokens_per_step / len(train_ids):.2f} epochs; {wall:.0f} s wall "
          "with evaluation):")
    print(f"  val loss, stateful, whole split ({args.streams} streams): {final['val']:.4f} "
          "nats/char")
    print(f"  val loss, 1000 random 256-char blocks from a zero state:  {blocks:.4f} nats/char")

    print(f"\n{'anchor (measured on this machine, same split)':46} {'seconds':>8} {'val':>7} "
          f"{'rnnkit at that time':>20} {'ratio':>6}")
    for name, points in ANCHORS.items():
        for sec, loss in points:
            ours = [c for c in curve if c["seconds"] <= sec + 2.0]
            if not ours:
                continue
            mine = ours[-1]["val"]
            note = "" if sec <= final["seconds"] + 2.0 else " (ends earlier)"
            print(f"{name:46} {sec:8.0f} {loss:7.3f} {mine:14.4f} @{ours[-1]['seconds']:5.0f}"
                  f" {mine / loss:6.3f}{note}")

    if args.sample:
        prompt = "ROMEO:"
        new = rnnkit.generate.generate(model, tok.encode(prompt), args.sample, temperature=0.8,
                                       top_k=40, seed=args.seed)
        print(f"\nsample (prompt {prompt!r}, temperature 0.8, top-k 40, seed {args.seed}):\n")
        print(tok.decode(tok.encode(prompt) + new))

    result = {"config": asdict(config), "seconds": budget, "threads": args.threads,
              "parameters": n_params, "curve": curve, "stateful": final["val"],
              "blocks": blocks, "command": " ".join(sys.argv)}
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    if args.plot:
        plot([result, *(json.loads(Path(o).read_text()) for o in args.overlay)], args.plot)
        print(f"\nwrote {args.plot}")
    return 0


def plot(runs: list[dict], png: str) -> None:
    os.environ.setdefault("MPLBACKEND", "Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for r in runs:
        c = r["config"]
        drop = f", dropout {c['dropout']:g}" if c["dropout"] else ""
        drop += f", AdamW wd {c['weight_decay']:g}" if c.get("weight_decay") else ""
        drop += f", batch {c['batch_size']}" if c["batch_size"] != 64 else ""
        label = (f"rnnkit {c['num_layers']}x{c['hidden_size']} {c['cell']} {c['precision']}"
                 f"{drop}, "
                 f"{r['seconds']:.0f} s budget (stateful val)")
        ax.plot([p["seconds"] for p in r["curve"]], [p["val"] for p in r["curve"]],
                marker="o", ms=3, label=label)
        ax.plot([r["curve"][-1]["seconds"]], [r["blocks"]], marker="x", ms=8, color="black",
                linestyle="none")
    markers = iter("s^vD")
    for name, points in ANCHORS.items():
        ax.plot([p[0] for p in points], [p[1] for p in points], marker=next(markers),
                linestyle=":", label=name)
    ax.axhline(1.50, color="grey", lw=0.8, ls="--")
    ax.axhline(1.40, color="grey", lw=0.8, ls="--")
    ax.set_xscale("log")
    ax.set_ylim(1.3, 2.6)
    ax.set_xlabel("training seconds, 2 CPU threads (log scale)")
    ax.set_ylabel("validation loss, nats/char")
    ax.set_title("Tiny Shakespeare, char level (x: 256-char blocks from zero state)")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(png, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
