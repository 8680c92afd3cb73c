"""``python -m rnnkit.compiled``: build the compiled kernels now (``make`` runs this)."""

import sys
import time

from . import build, build_dir, disabled


def main() -> int:
    if disabled():
        print("rnnkit.compiled: RNNKIT_COMPILED=0, not building")
        return 0
    start = time.perf_counter()
    try:
        path = build(verbose="-v" in sys.argv)
    except RuntimeError as err:
        # not an install failure: every layer still runs, on the Python loop
        print(f"rnnkit.compiled: {err}; layers will use the Python loop", file=sys.stderr)
        return 0
    print(f"rnnkit.compiled: kernels ready in {build_dir()} ({path.name}, "
          f"{time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
