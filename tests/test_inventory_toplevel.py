"""A system's top-level inventory key added by registering one `TopKey`, without editing the loader: its
value is read and cross-checked against the file's nodes (problems with their lines), kept on the
Inventory (`inventory.settings(KEY)`), and the node key it brings may be set under defaults and groups."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from console.inventory import load_inventory, toplevel
from console.inventory import settings as inventory_settings
from console.inventory.loader import _defaultable
from console.inventory.rules import CHECKS, quote
from console.inventory.settings import SectionSettings
from console.inventory.toplevel import TopKey, TopRead, register_top_key
from tests.inventory_support import problems, write


@dataclass(frozen=True, slots=True)
class Window:
    start: str
    hours: int = 4
    nodes: tuple[str, ...] = ()


def _hours(value: int) -> str | None:
    return None if 1 <= value <= 24 else "must be between 1 and 24"


def read_window(read: TopRead) -> Window | None:
    window = read.settings("maintenance", Window)
    if isinstance(window, Window):
        for name in window.nodes:
            if name not in read.names:
                read.problem(read.line("maintenance"), "maintenance.nodes", f"{quote(name)} is not a node")
    return window


@dataclass(frozen=True, slots=True)
class Pager:
    team: str


MAINTENANCE = TopKey(
    "maintenance",
    read_window,
    node_keys=(SectionSettings("pager", Pager | None),),
)


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # messages name the file as given


@pytest.fixture
def maintenance() -> Iterator[TopKey]:
    """The key registered; the registries as they were come back afterwards."""
    keys, settings, checks = dict(toplevel.TOP_KEYS), dict(inventory_settings.SETTINGS), dict(CHECKS)
    CHECKS[(Window, "hours")] = _hours
    register_top_key(MAINTENANCE)
    try:
        yield MAINTENANCE
    finally:
        toplevel.TOP_KEYS.clear()
        toplevel.TOP_KEYS.update(keys)
        inventory_settings.SETTINGS.clear()
        inventory_settings.SETTINGS.update(settings)
        CHECKS.clear()
        CHECKS.update(checks)


FILE = """\
    version: 1
    maintenance: {start: "sun 02:00", hours: 6, nodes: [a]}
    defaults:
      pager: {team: gpu-ops}
    nodes:
      a: {host: 10.0.0.1}
      b: {host: 10.0.0.2, pager: {team: storage}}
    """


def test_a_registered_top_level_key_is_read_kept_and_its_node_key_defaulted(
    tmp_path: Path, maintenance: TopKey
) -> None:
    inventory = load_inventory(tmp_path / write(tmp_path / "lab.yaml", FILE))
    assert inventory.settings("maintenance") == Window("sun 02:00", 6, ("a",))
    assert inventory.plugins == (("maintenance", Window("sun 02:00", 6, ("a",))),)
    assert [n.settings("pager") for n in inventory.nodes] == [Pager("gpu-ops"), Pager("storage")]
    assert inventory.settings("prometheus") is None  # a built-in field still reads as before


def test_its_problems_are_reported_with_their_lines(tmp_path: Path, maintenance: TopKey) -> None:
    text = FILE.replace("hours: 6, nodes: [a]", "hours: 30, nodes: [a, z], color: red")
    assert problems(write(tmp_path / "lab.yaml", text)) == [
        "lab.yaml:2: maintenance.hours: must be between 1 and 24",
        "lab.yaml:2: maintenance.color: unknown key",
    ]
    text = FILE.replace("hours: 6, nodes: [a]", "nodes: [a, z]")
    assert problems(write(tmp_path / "lab.yaml", text)) == [
        "lab.yaml:2: maintenance.nodes: 'z' is not a node",
    ]


def test_unregistered_the_key_and_its_node_key_are_unknown(tmp_path: Path) -> None:
    assert problems(write(tmp_path / "lab.yaml", FILE)) == [
        "lab.yaml:2: maintenance: unknown key",
        "lab.yaml:4: defaults.pager: unknown key",
        "lab.yaml:7: nodes.b.pager: unknown key",
    ]


def test_what_defaults_may_set_comes_from_the_registrations() -> None:
    # The node's own keys (toplevel.py), the systems' (racks: `rack`) and every defaultable section key;
    # a node's identity and the keys only a node may have are not defaultable.
    allowed = set(_defaultable())
    assert {"kind", "ssh", "refresh", "thresholds", "power_budget_w", "scratch", "rack"} <= allowed
    assert {"gpus", "docker", "mounts", "services", "sshd", "storage", "ai_stack", "slurm"} <= allowed
    assert not {"name", "host", "transport", "groups", "slurm_name", "plugins"} & allowed
