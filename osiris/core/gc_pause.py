"""Bulk passes without the cyclic garbage collector."""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


def gc_paused(func: Callable[P, R]) -> Callable[P, R]:
    """Run `func` with the cyclic garbage collector paused (and resumed after, if it was on).

    A migration holds millions of small objects without reference cycles (inventories,
    steps, plan rows), and retention thousands of run records. With the collector on,
    every few thousand allocations it scans all of them again, which more than doubles the
    cost of planning or applying a large plan; reference counting still frees everything
    that is dropped meanwhile.
    """

    @functools.wraps(func)
    def paused(*args: P.args, **kwargs: P.kwargs) -> R:
        if not gc.isenabled():
            return func(*args, **kwargs)
        gc.disable()
        try:
            return func(*args, **kwargs)
        finally:
            gc.enable()

    return paused
