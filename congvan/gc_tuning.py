"""The cyclic garbage collector, tuned for congvan's own processes: a command, a signing process.

Such a process loads hundreds of modules, then allocates steadily (pyHanko's PDF objects, a flow's records) and
ends. With CPython's default thresholds the collector walks the young objects every 700 allocations, and the
old ones again and again: a fifth of `status` or `validate`, 6 % of signing a letter (bench/bench_startup.py,
bench/bench_sign.py). Young objects are collected every 20,000 allocations instead, so cycles are still
collected; what was loaded before the work is frozen out of every collection.
"""

from __future__ import annotations

import atexit
import gc

YOUNG = 20_000  # allocations between two collections of the young generation (CPython's default: 700)


def tune() -> None:
    """Collect the young generation every ``YOUNG`` allocations."""
    gc.set_threshold(YOUNG, 10, 10)


def freeze_loaded() -> None:
    """What the process holds now (its modules, its keys) is left out of every later collection."""
    gc.freeze()


def freeze_at_exit() -> None:
    """At exit, after the other atexit handlers, freeze what is left instead of collecting it: the memory goes
    back to the system with the process."""
    atexit.register(gc.freeze)
