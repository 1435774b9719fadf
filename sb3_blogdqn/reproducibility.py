"""
The reproducible mode: the same numbers from the same seed on any x86-64 machine, for the fused kernel.

By default every library picks the fastest instructions of the CPU it runs on: numba
compiles the fused kernel for the host (AVX-512, FMA), ATen and MKL dispatch to their
AVX2 or AVX-512 code. Each choice sums in its own order, so float rounding differs between
CPUs, and Adam, which divides every step by its own scale, turns a rounding difference in a
near-zero gradient into a full learning-rate step: after a few hundred replays two CPUs
follow different trajectories from one seed. Both are correct runs of the algorithm; they
are not the same run.

The reproducible mode pins each library to code that every x86-64 CPU runs:

- ``NUMBA_CPU_NAME=generic``: numba compiles for the baseline x86-64 (SSE2, no FMA);
- ``ATEN_CPU_CAPABILITY=default``: ATen's non-vectorized kernels;
- ``MKL_CBWR=COMPATIBLE``: MKL's conditional numerical reproducibility, its least CPU-specific branch;
- ``ONEDNN_MAX_CPU_ISA=SSE41``: oneDNN (torch's convolutions) without AVX;
- ``OMP_NUM_THREADS=1`` and ``MKL_NUM_THREADS=1``: one thread, so BLAS never splits a sum.

MKL is the one it cannot pin: even on its ``COMPATIBLE`` branch, its matrix products and vector
math (torch's ``Linear`` layers, ``sqrt``) round differently on AMD and Intel CPUs. Runs whose
learning goes through torch (``use_kernel=False``, image and Dict observations) can therefore
still part between CPUs; on the fused kernel, MKL computes only the Q-values that choose a
greedy action, where a last-bit difference matters only at a near tie.

They are read when the libraries start, so they must be set before Python starts::

    python -m sb3_blogdqn.reproducibility python examples/cartpole_blog.py

runs the command with them (``env NUMBA_CPU_NAME=generic ... python ...`` is the same).
The fused kernel is slower there (see ``benchmarks/README.md``); nothing else changes.
"""

import os
import sys

REPRODUCIBLE_ENV = {
    "NUMBA_CPU_NAME": "generic",
    "ATEN_CPU_CAPABILITY": "default",
    "MKL_CBWR": "COMPATIBLE",
    "ONEDNN_MAX_CPU_ISA": "SSE41",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}


def reproducible_mode_problems() -> list[str]:
    """What keeps this process out of the reproducible mode (empty: it is in it)."""
    return [
        f"{name}={os.environ.get(name)!r}, the mode needs {value!r}"
        for name, value in REPRODUCIBLE_ENV.items()
        if os.environ.get(name) != value
    ]


def in_reproducible_mode() -> bool:
    return not reproducible_mode_problems()


def main(argv: list[str] | None = None) -> None:
    """``python -m sb3_blogdqn.reproducibility COMMAND [ARGS...]``: run COMMAND in the reproducible mode."""
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return
    os.execvpe(argv[0], argv, {**os.environ, **REPRODUCIBLE_ENV})


if __name__ == "__main__":
    main()
