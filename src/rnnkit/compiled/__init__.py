"""The compiled CPU path: recurrences in C++ (``csrc/``), built with the system compiler.

``torch.utils.cpp_extension`` builds ``csrc/`` into one library of ``torch.ops.rnnkit``
operators: gated cells (Elman, LSTM, both GRU forms) one fused pass per step with a written-out
backward (``gated.cpp``), the LayerNorm-LSTM/GRU the same way with their norms in that pass
(``layernorm.cpp``), minGRU/minLSTM's linear recurrence in one sequential pass
(``linear.cpp``), and a streaming step of a whole layer stack in one call (``step.cpp``).
``python -m rnnkit.compiled`` builds it (``make`` does, at install time);
``backend="compiled"`` builds on first use; ``backend="auto"`` uses it only when it is
already built, so a layer never stops to compile unasked.

Where no compiler is present, or the build fails, layers fall back to the loop with a
one-line notice. ``RNNKIT_COMPILED=0`` turns the path off (CI runs the tests both ways).
The build lives in ``$RNNKIT_KERNELS_DIR`` or ``~/.cache/rnnkit/kernels``, one folder per
torch version, source hash and CPU instruction set, so an edited kernel is rebuilt, never
mixed up, and a home folder shared by machines with different CPUs (a cluster's nodes) never
hands one node a library compiled for another's instructions (``-march=native``: it would die
of an illegal instruction, with no Python error to catch).
"""

from __future__ import annotations

import hashlib
import os
import platform
import sys
import warnings
from pathlib import Path

import torch

__all__ = ["available", "build", "build_dir", "cpu_instruction_set", "disabled", "ensure"]

_NAME = "rnnkit_kernels"
_CSRC = Path(__file__).parent / "csrc"
_SOURCES = [_CSRC / "kernels.cpp"]  # includes the others: one parse of torch's headers
# -ffast-math at compile time only: it lets GCC call glibc's vectorised exp (libmvec); at
# link time it would add crtfastmath.o, which flushes denormals for the whole process.
# -fno-finite-math-only: without it GCC may drop NaN (a clamp turned a NaN reading into an ordinary
# number); libmvec stays in use through cell_math.h's declarations.
_CFLAGS = ["-O3", "-march=native", "-ffast-math", "-fno-finite-math-only", "-fopenmp"]
_LDFLAGS = ["-fopenmp"]  # resolves to the libgomp.so.1 torch has already loaded
_state: dict[str, object] = {}


def disabled() -> bool:
    """True when ``RNNKIT_COMPILED=0`` (or ``off``/``false``) turns the compiled path off."""
    return os.environ.get("RNNKIT_COMPILED", "1").strip().lower() in ("0", "off", "false", "no")


def cpu_instruction_set() -> str:
    """What ``-march=native`` compiles for here: the CPU's feature flags (Linux), else the
    architecture and processor name the platform reports."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as info:
            for line in info:
                if line.split(":")[0].strip() in ("flags", "Features"):  # x86, ARM
                    return platform.machine() + " " + " ".join(sorted(line.split(":")[1].split()))
    except OSError:
        pass
    return f"{platform.machine()} {platform.processor()}"


def build_dir() -> Path:
    """Where the library is (or would be) built: one folder per torch version, sources and
    CPU instruction set."""
    digest = hashlib.sha256()
    for path in sorted(_CSRC.glob("*.[ch]*")):  # sources and headers
        digest.update(path.name.encode() + path.read_bytes())
    digest.update(" ".join(_CFLAGS + _LDFLAGS).encode())
    digest.update(cpu_instruction_set().encode())
    root = os.environ.get("RNNKIT_KERNELS_DIR") or Path.home() / ".cache" / "rnnkit" / "kernels"
    return Path(root) / f"torch-{torch.__version__}-{digest.hexdigest()[:12]}"


def _library() -> Path:
    return build_dir() / f"{_NAME}.so"


def _load_built() -> bool:
    torch.ops.load_library(str(_library()))
    return hasattr(torch.ops.rnnkit, "gated_forward")


def build(verbose: bool = False) -> Path:
    """Compile ``csrc/`` now (about 30 s on 2 cores) and load it; returns the library.

    Raises ``RuntimeError`` saying why when there is no compiler or the build fails.
    """
    from torch.utils import cpp_extension

    folder = build_dir()
    folder.mkdir(parents=True, exist_ok=True)
    # the ninja that `pip install ninja` puts beside this interpreter, even without an
    # activated virtual environment
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    try:
        cpp_extension.load(name=_NAME, sources=[str(p) for p in _SOURCES],
                           # copies: load() appends to the lists it is given, which
                           # changed build_dir()'s hash after a build
                           extra_cflags=list(_CFLAGS), extra_ldflags=list(_LDFLAGS),
                           build_directory=str(folder), verbose=verbose,
                           is_python_module=False)
    except Exception as err:  # no compiler, no ninja, a compile error: say which, once
        reason = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
        raise RuntimeError(f"could not build rnnkit's compiled kernels: {reason}") from err
    _state["ok"] = True
    return _library()


def available() -> bool:
    """True when the compiled operators are loaded or can be loaded without compiling."""
    if disabled():
        return False
    if "ok" not in _state:
        try:
            _state["ok"] = _library().exists() and _load_built()
        except (OSError, RuntimeError):
            _state["ok"] = False
    return bool(_state["ok"])


def ensure() -> bool:
    """Load, building if needed; on failure warn once (one line) and return False."""
    if available():
        return True
    if disabled() or _state.get("failed"):
        return False
    try:
        build()
        return True
    except RuntimeError as err:
        _state["failed"] = True
        warnings.warn(f"{err}; using the Python loop instead", RuntimeWarning, stacklevel=3)
        return False
