"""What the inventory loader's tests share: a `lab.yaml` in the working directory (messages read exactly
`lab.yaml:N: ...`; a module makes it its fixture: `lab = pytest.fixture(lab_file)`), writing it, and the
problems loading it reports."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from console.inventory import InventoryError, load_inventory

HEADER = "version: 1\nnodes:\n"  # lines 1-2, so node bodies below start on line 3


def lab_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A writable `lab.yaml` in the current directory, so messages read exactly `lab.yaml:N: ...`."""
    monkeypatch.chdir(tmp_path)
    return tmp_path / "lab.yaml"


def write(path: Path, text: str) -> str:
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path.name


def problems(path: str) -> list[str]:
    with pytest.raises(InventoryError) as info:
        load_inventory(path)
    return [str(p) for p in info.value.errors]
