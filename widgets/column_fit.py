"""Which columns a table shows in a given width, and how wide: `fit_columns`, used by every table.

The columns that tell rows apart (`keep`) always show, the others join by priority while their minimum fits,
and the width left over goes to the columns whose text is cut, most important first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    label: str
    width: int  # the least it is shown at (less when no cell needs that much)
    priority: int = 0  # 0 shows first; higher numbers drop first on a narrow terminal
    flex: bool = False  # as the last column shown, takes what is left once every cut column is whole
    keep: bool = False  # tells rows apart: shown at any width


Widths = tuple[tuple[Column, int], ...]


def fit_columns(
    columns: Sequence[Column], width: int, padding: int = 1, natural: Mapping[str, int] | None = None
) -> Widths:
    """The columns shown in `width` cells, in declared order, each with its width.

    `natural` is how wide each column's widest cell (or its label) is; without it, columns are as wide as
    declared. A column never takes more than its minimum when its cells need less. The `keep` columns
    always show; the others join by priority while their minimum still fits. Then the width left over
    goes to the columns whose text is cut: the `keep` ones first (a cut name may make two rows look alike
    again), then by priority tier; within a tier a cell at a time in turn, so the shortest needs are met
    first. While a `keep` column is still cut, the least important column of priority NICE or more makes
    way for it. What remains once every cell is whole goes to the flex column when it is the last one
    shown (in the middle of a row, blank width would only push the columns after it away).
    """
    natural = natural or {}
    left_out: set[str] = set()
    while True:
        sizes = _sizes([c for c in columns if c.key not in left_out], width, padding, natural)
        shown = [column for column in columns if column.key in sizes]
        if not any(c.keep and natural.get(c.key, 0) > sizes[c.key] for c in shown):
            break
        spare = [c for c in shown if not c.keep and c.priority >= NICE]
        if not spare:
            break
        left_out.add(max(reversed(spare), key=lambda c: c.priority).key)  # the last of the least important
    return tuple((column, sizes[column.key]) for column in shown)


NICE = 3  # priorities from here on are nice to have: they make way for a cut `keep` column


def _sizes(columns: Sequence[Column], width: int, padding: int, natural: Mapping[str, int]) -> dict[str, int]:
    def least(column: Column) -> int:
        need = natural.get(column.key)
        return column.width if need is None else max(1, min(column.width, need))

    sizes: dict[str, int] = {}
    used = 0
    for column in columns:
        if column.keep:
            sizes[column.key] = least(column)
            used += least(column) + 2 * padding
    for column in sorted((c for c in columns if not c.keep), key=lambda c: c.priority):
        need = least(column) + 2 * padding
        if used + need <= width or not sizes:
            sizes[column.key] = least(column)
            used += need
    free = max(0, width - used)
    shown = [column for column in columns if column.key in sizes]
    tiers: list[list[Column]] = [[c for c in shown if c.keep]]
    tiers += [
        [c for c in shown if not c.keep and c.priority == p] for p in sorted({c.priority for c in shown})
    ]
    for tier in tiers:
        cut = [c for c in tier if natural.get(c.key, 0) > sizes[c.key]]
        while free and cut:
            for column in list(cut):
                if not free:
                    break
                sizes[column.key] += 1
                free -= 1
                if sizes[column.key] >= natural[column.key]:
                    cut.remove(column)
    if shown and shown[-1].flex:
        sizes[shown[-1].key] += free
    return sizes
