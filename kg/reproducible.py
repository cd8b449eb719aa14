"""Training that gives the same numbers on any machine of a kind, whatever its core count.

Floating-point sums are not associative: a CPU kernel that splits a reduction over N
threads adds in an order that depends on N, so a model trained with torch's default
thread count (one per core) drifts from machine to machine, and a few ulps early in
training can flip an early-stopping decision or a ranking tie later. Every trainer whose
results a test or a document holds runs inside :func:`reproducible`: a fixed seed, a
fixed thread count (never "all cores") and torch's deterministic algorithms.

torch is imported when a block is entered, never at import time.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

__all__ = ["reproducible", "torch_threads"]


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run with ``count`` torch CPU threads, restoring the previous setting after.

    ``count`` must be a fixed positive number: reading it from the machine (its core
    count) is exactly what makes training irreproducible."""
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise ValueError(f"thread count must be a positive integer, got {count!r}")
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextmanager
def reproducible(*, seed: int, threads: int) -> Iterator[None]:
    """Seed Python, NumPy's global generator and torch; fix torch's CPU threads; turn on
    torch's deterministic algorithms (``warn_only``: an op without a deterministic
    kernel warns instead of failing). Everything is restored when the block ends."""
    import torch

    was_deterministic = torch.are_deterministic_algorithms_enabled()
    was_warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    random.seed(seed)
    np.random.seed(seed)  # libraries (PyKEEN's samplers) draw from the global generator
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        with torch_threads(threads):
            yield
    finally:
        torch.use_deterministic_algorithms(was_deterministic, warn_only=was_warn_only)
