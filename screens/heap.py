"""The console's heap and Python's cyclic garbage collector.

A fleet on screen is a few hundred thousand long-lived objects (the rows' rendered lines, each node's latest
snapshot and history, the widgets), and the console allocates and frees thousands more per frame. With
Python's defaults (a young collection every 700 net allocations, a full one whenever the old generation
grew by a quarter) the collector walked that whole heap every ~12 s and its young generation ~11 times a
second: on the 300-node recorded fleet it cost a quarter to a third of the console's CPU
(bench/tui_refresh.py; bench/README.md has the figures).

So, while the app runs: the young generation is collected after YOUNG_THRESHOLD net allocations (the
transient objects of a frame die before that, by reference count), and once the fleet's first round of
answers is drawn (or a fleet read from Prometheus grew) one full collection runs and what survives is moved
out of the collector's walks (`gc.freeze`). Frozen objects are still freed when their count drops to 0; only
a reference cycle among them would wait for `release()`, which the app calls when it ends.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 10_000


class HeapKeeper:
    """Sets the collector's young threshold while the app runs, freezes the heap once it is settled."""

    def __init__(self) -> None:
        self._before: tuple[int, int, int] | None = None
        self.frozen = 0  # how many times the heap was frozen

    def start(self) -> None:
        if self._before is None:
            self._before = gc.get_threshold()
            gc.set_threshold(YOUNG_THRESHOLD, *self._before[1:])

    def settled(self) -> None:
        """The long-lived objects are in (the first round drawn, a fleet that grew): collect once, then keep
        what survived out of the collector's walks."""
        gc.collect()
        gc.freeze()
        self.frozen += 1

    def release(self) -> None:
        """The app ends: the collector walks everything again, with its thresholds as they were."""
        if self.frozen:
            gc.unfreeze()
            self.frozen = 0
        if self._before is not None:
            gc.set_threshold(*self._before)
            self._before = None
