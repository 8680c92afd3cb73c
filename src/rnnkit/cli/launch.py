"""``rnnkit launch``: run a training verb on several processes or machines, via torchrun.

``rnnkit launch --nproc N VERB ...`` is ``torchrun --standalone --nproc-per-node N -m rnnkit
VERB ...`` (PyTorch's own launcher, ``torch.distributed.run``): N processes run the same verb
and ``rnnkit.fit`` trains them data-parallel with DistributedDataParallel (gloo on CPU, NCCL on
CUDA). ``--batch-size`` keeps its meaning: the global batch, split across all processes.

Several machines: the same command on each, with ``--nnodes M --node-rank I
--rdzv-endpoint HOST:PORT`` (HOST: the machine with node rank 0, reachable from the others).
When a process fails or is killed, torchrun stops the others and this command exits with
status 1 and one line naming the rank; rerun with the verb's ``--resume`` to continue from
the last checkpoint. Bad input exits 2 (the verb's own message); machines that never join
are given up after ``--rdzv-timeout`` seconds; training verbs only.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys

from .common import UsageError, examples, new_parser

# set for the workers: the launcher's pid, so that they end with it (``rnnkit.__main__``)
LAUNCHER_PID = "RNNKIT_LAUNCHER_PID"

EXAMPLES = (
    "rnnkit launch --nproc 2 train --csv examples/data/series.csv --target value --window 3 "
    "--checkpoint runs/next-ddp",
    "rnnkit launch --nproc 2 textgen train --text examples/data/notes.txt --epochs 5 "
    "--checkpoint runs/notes-ddp",
    "rnnkit launch --nnodes 2 --node-rank 0 --nproc 1 --rdzv-endpoint 10.0.0.1:29500 "
    "train --csv examples/data/series.csv --target value --window 3 --checkpoint runs/next",
)


def register(subparsers) -> None:
    p = new_parser(subparsers, "launch", help="run a training verb on N processes / machines "
                   "(torchrun)", epilog=examples(*EXAMPLES),
                   description="Run a training verb on several processes or machines, via "
                   "torchrun (torch.distributed.run).")
    p.add_argument("--nproc", type=int, default=2, metavar="N",
                   help="processes on this machine (default 2; one per GPU on GPU machines)")
    p.add_argument("--nnodes", type=int, default=1, metavar="M",
                   help="machines taking part (default 1)")
    p.add_argument("--node-rank", type=int, default=0, metavar="I",
                   help="this machine's number, 0..M-1 (default 0)")
    p.add_argument("--rdzv-endpoint", default=None, metavar="HOST:PORT",
                   help="where node 0 listens (required with --nnodes > 1)")
    p.add_argument("--max-restarts", type=int, default=0, metavar="K",
                   help="restart the whole group up to K times after a failure (default 0)")
    p.add_argument("--rdzv-timeout", type=int, default=300, metavar="S",
                   help="with --nnodes > 1: give up when the other machines have not joined "
                        "after S seconds (default 300; torchrun's own is 600-900)")
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="VERB ...",
                   help="the rnnkit verb and its options, e.g. train --csv ...")
    p.set_defaults(run=run)


# the verbs whose training rnnkit.fit runs data-parallel (``train`` alone: regress's alias)
TRAINING = ("train", "regress train", "textgen train", "classify train", "forecast train",
            "translate train", "anomaly train")


def _trains(command: list[str]) -> bool:
    return command[0] == "train" or " ".join(command[:2]) in TRAINING


def torchrun_args(args) -> list[str]:
    """torchrun's command line for ``args`` (checked; raises UsageError)."""
    for name in ("nproc", "nnodes"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name} must be a positive integer, got {getattr(args, name)}")
    if not 0 <= args.node_rank < args.nnodes:
        raise UsageError(f"--node-rank must lie in 0..{args.nnodes - 1}, got {args.node_rank}")
    if args.max_restarts < 0:
        raise UsageError(f"--max-restarts must be >= 0, got {args.max_restarts}")
    command = _command(args)
    if not command or command[0].startswith("-"):
        raise UsageError("expected a verb to run, e.g. rnnkit launch --nproc 2 train --csv ...")
    if command[0] == "launch":
        raise UsageError("rnnkit launch cannot launch itself")
    if not _trains(command):
        raise UsageError(f"rnnkit launch runs training verbs only ({', '.join(TRAINING)}); "
                         f"'{' '.join(command[:2])}' would run once per process, side by side")
    if args.rdzv_timeout < 1:
        raise UsageError(f"--rdzv-timeout must be a positive number of seconds, got "
                         f"{args.rdzv_timeout}")
    out = ["--nproc-per-node", str(args.nproc), "--max-restarts", str(args.max_restarts)]
    if args.nnodes == 1 and args.rdzv_endpoint is None:
        out.append("--standalone")  # a free port on this machine
    else:
        if args.rdzv_endpoint is None or ":" not in args.rdzv_endpoint:
            raise UsageError(f"--nnodes {args.nnodes} needs --rdzv-endpoint HOST:PORT (the "
                             "address of the machine with --node-rank 0)")
        out += ["--nnodes", str(args.nnodes), "--node-rank", str(args.node_rank),
                "--rdzv-endpoint", args.rdzv_endpoint,
                "--rdzv-conf", f"timeout={args.rdzv_timeout}"]
    return [*out, "-m", "rnnkit", *command]


def _command(args) -> list[str]:
    return args.command[1:] if args.command[:1] == ["--"] else args.command


def _verb_refuses(command: list[str]) -> int | None:
    """The verb's own parser run on ``command`` here, once: a wrong or missing option is its
    one line and status 2 now, not N processes' lines after the rendezvous (which waits up to
    --rdzv-timeout for other machines). None where it parses."""
    from .main import build_parser

    try:
        build_parser().parse_args(command)
    except SystemExit as e:
        return int(e.code or 0)
    return None


# torch's C++ side logs a failed rendezvous connection as ~40 lines of stack frames before
# the one line rnnkit says; FATAL keeps them out. Read when torch loads, so the launcher
# restarts itself once with it set (workers get the user's setting back)
_CPP_LOG = "TORCH_CPP_LOG_LEVEL"
_RESTARTED = "RNNKIT_LAUNCH_RESTARTED"


def _quiet_cpp_logs(args) -> None:
    if os.environ.pop(_RESTARTED, None) is not None:
        os.environ.pop(_CPP_LOG, None)  # set by the restart below, not by the user
        return
    argv = getattr(args, "_argv", None)  # None: called in-process (tests), not from a shell
    if argv is None or _CPP_LOG in os.environ:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, "-m", "rnnkit", *argv],
              {**os.environ, _CPP_LOG: "FATAL", _RESTARTED: "1"})


def run(args) -> int:
    from torch.distributed import DistError
    from torch.distributed import run as torchrun
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.elastic.rendezvous.api import RendezvousError

    argv = torchrun_args(args)
    code = _verb_refuses(_command(args))
    if code is not None:  # its options are wrong (or --help): said here, before any rendezvous
        return code
    _quiet_cpp_logs(args)
    logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)  # one line
    # torchrun warns in four lines when OMP_NUM_THREADS is unset; every verb sets its own
    # threads (--threads, default 1), so say so to it
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ[LAUNCHER_PID] = str(os.getpid())  # the workers end with this process
    # Ctrl-C while the rendezvous waits for other machines: that wait is a C++ call Python's
    # KeyboardInterrupt never reaches (it was ignored for 10 minutes), so let the signal's
    # default action end the launcher; once workers run, torchrun's own handlers take over
    # (SignalException below)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    try:
        torchrun.run(torchrun.parse_args(argv))
    except ChildFailedError as e:
        _, first = e.get_first_failure()
        if first.exitcode == 2:  # bad input: each machine's first process said why (its line)
            if first.local_rank != 0:
                print("rnnkit launch: error: the verb refused its input on local rank "
                      f"{first.local_rank}; nothing was trained", file=sys.stderr, flush=True)
            return 2
        print(f"rnnkit launch: error: {failure_line(e)}", file=sys.stderr, flush=True)
        return 1
    except SignalException as e:  # SIGTERM/SIGINT to the launcher: it stopped its workers
        print(f"rnnkit launch: stopped by {e.sigval.name}; the last checkpoint is complete: "
              "rerun with --resume to continue", file=sys.stderr, flush=True)
        return 128 + int(e.sigval)
    except (RendezvousError, DistError) as e:  # the others never came, or a wrong endpoint
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        print(f"rnnkit launch: error: rendezvous at {args.rdzv_endpoint} failed: {reason}",
              file=sys.stderr, flush=True)
        return 1
    return 0


def failure_line(e) -> str:
    """One line for torchrun's ChildFailedError: the first failed rank and how it ended."""
    rank, f = e.get_first_failure()
    how = f"was killed by {f.signal_name()}" if f.exitcode < 0 else f"exited with status " \
        f"{f.exitcode}"
    others = len(e.failures) - 1
    more = f" (and {others} other failure{'s' if others > 1 else ''})" if others > 0 else ""
    return (f"rank {rank} (pid {f.pid}) {how}{more}; torchrun stopped the other processes. "
            "The last checkpoint is complete: rerun with --resume to continue")
