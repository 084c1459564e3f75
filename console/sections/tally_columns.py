"""The Docker and mounts sections' fleet columns: '3/4' of what should be well, in the checks' colour."""

from __future__ import annotations

from console.model.columns import CellValue, ColumnSpec, RowInput
from console.model.levels import Tally
from console.sections import prom_columns

DOCKER_COLUMNS = (ColumnSpec("containers", "Ctrs", 5, priority=4),)
MOUNTS_COLUMNS = (ColumnSpec("mounts", "Mounts", 8, priority=5),)


def tally(value: Tally | None, error: bool) -> CellValue:
    """'good/expected' (' hung' when a mount does not answer) sorted on `good`; '✖ err' when the section's
    read failed."""
    sort = float(value.good) if value is not None else None
    if error:
        return CellValue("✖ err", level=None, sort=sort, justify="left", tone="bad")
    if value is None:
        return CellValue()
    text = f"{value.good}/{value.expected}" + (" hung" if value.hung else "")
    return CellValue(text, level=value.level, sort=sort)


def docker_cells(row: RowInput) -> dict[str, CellValue]:
    if row.snapshot.prom is not None:  # a node read from Prometheus: cAdvisor's count
        return prom_columns.docker_cells(row.snapshot.prom)
    docker = row.snapshot.docker
    error = row.node.docker is not None and docker is not None and docker.error is not None
    return {"containers": tally(row.levels.containers, error)}


def mounts_cells(row: RowInput) -> dict[str, CellValue]:
    mounts = row.snapshot.mounts
    error = bool(row.node.mounts) and mounts is not None and mounts.error is not None
    return {"mounts": tally(row.levels.mounts, error)}
