"""``python -m rnnkit VERB ...``: the command line, and the entry point torchrun starts.

``torchrun --nproc-per-node N -m rnnkit VERB ...`` (or ``rnnkit launch --nproc N VERB ...``)
runs the same verb in N processes; ``rnnkit.fit`` sees the launch and trains data-parallel
(``rnnkit.training.distributed``). Here, under such a launch: processes other than rank 0 print
nothing on stdout (rank 0 speaks for all), a CUDA process takes GPU ``LOCAL_RANK`` before any
model is built, and a process that loses its peers exits with one line on stderr and status 1.
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> int:
    from .training.distributed import DistributedError, launched

    if launched():
        _end_with_launcher()
        if int(os.environ.get("RANK", "0")) > 0:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (for the life of the process)
        local = os.environ.get("LOCAL_RANK")
        if local is not None:
            import torch

            if torch.cuda.is_available() and int(local) < torch.cuda.device_count():
                torch.cuda.set_device(int(local))
    from .cli.main import main as cli_main

    try:
        return cli_main(argv)
    except DistributedError as e:
        print(f"rnnkit: error: {e}", file=sys.stderr, flush=True)
        return 1


def _end_with_launcher() -> None:
    """Under ``rnnkit launch``: end this worker when the launcher dies. Killed with SIGKILL,
    torchrun cannot stop its workers, which went on training unwatched and kept the checkpoint
    folder's lock from a ``--resume``."""
    from .cli.launch import LAUNCHER_PID
    from .runtime import end_with_parent

    launcher = os.environ.get(LAUNCHER_PID)
    if launcher is not None:
        end_with_parent(int(launcher))


if __name__ == "__main__":
    sys.exit(main())
