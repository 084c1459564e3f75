"""Long work on the event loop cut into slices, so a key pressed meanwhile is answered between them."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TypeVar

# A frame's answers are handed over in slices of SLICE_NODES, until SLICE_S has gone: on a 1,000-node fleet a
# frame holds 50 answers, and drawing them at one go would keep a key waiting that long.
SLICE_NODES = 10
SLICE_S = 0.015

T = TypeVar("T")


def in_slices(items: Sequence[T], handle: Callable[[Sequence[T]], object]) -> int:
    """Hand `items` to `handle` SLICE_NODES at a time until SLICE_S has gone (one slice at least, whatever the
    clock says); how many were handed. The caller hands the rest at a later turn of the event loop."""
    done, deadline = 0, time.perf_counter() + SLICE_S
    while done < len(items):
        handle(items[done : done + SLICE_NODES])
        done += SLICE_NODES
        if time.perf_counter() >= deadline:
            break
    return min(done, len(items))
