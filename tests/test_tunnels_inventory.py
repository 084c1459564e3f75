"""The inventory's `tunnels:` entries, `gpus.exporter_port`, and the tunnels the nodes imply."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.inventory import load_inventory
from console.model.tunnels import TunnelSpec, planned_tunnels
from tests.inventory_support import lab_file, problems, write

lab = pytest.fixture(lab_file)

NODES = """\
version: 1
nodes:
  pod1: {host: 203.0.113.11, gpus: {count: 8, source: prometheus}}
  pod2:
    host: 203.0.113.12
    gpus: {source: prometheus, exporter_port: 9500}
    services: [{name: jupyter, port: 8888, bind: 127.0.0.1}, {name: api, port: 8000, bind: 0.0.0.0}]
  box: {host: 203.0.113.13, gpus: {count: 1}}
  here: {transport: local, gpus: {source: prometheus}}
"""


def test_entries_and_implied_tunnels(lab: Path) -> None:
    path = write(
        lab,
        NODES
        + """\
tunnels:
  pod1-dcgm: {node: pod1, remote: "127.0.0.1:9400", local_port: 19400, labels: {pod: a100-1, zone: x}}
  v6: {node: box, remote: "[::1]:9100", scrape: false}
""",
    )
    inventory = load_inventory(path)
    assert inventory.tunnels == (
        TunnelSpec("pod1-dcgm", "pod1", "127.0.0.1", 9400, 19400, (("pod", "a100-1"), ("zone", "x"))),
        TunnelSpec("v6", "box", "::1", 9100, None, (), scrape=False),
    )
    assert inventory.node("pod2").gpus.exporter_port == 9500  # type: ignore[union-attr]
    planned = planned_tunnels(inventory)
    # pod1's exporter is covered by the entry; pod2 implies its exporter (its own port) and its services;
    # box (nvidia-smi) implies nothing; a local node needs no tunnel.
    assert [(s.name, s.remote, s.scrape, s.origin) for s in planned] == [
        ("pod1-dcgm", "127.0.0.1:9400", True, "tunnels"),
        ("v6", "[::1]:9100", False, "tunnels"),
        ("pod2/dcgm", "127.0.0.1:9500", True, "gpus"),
        ("pod2/jupyter", "127.0.0.1:8888", False, "services"),
        ("pod2/api", "127.0.0.1:8000", False, "services"),
    ]


def test_default_exporter_port_only_for_prometheus(lab: Path) -> None:
    inventory = load_inventory(write(lab, NODES))
    first = planned_tunnels(inventory)[0]
    assert (first.name, first.remote_port) == ("pod1/dcgm", 9400)
    assert inventory.node("box").gpus.exporter_port is None  # type: ignore[union-attr]


def test_problems_name_their_lines(lab: Path) -> None:
    path = write(
        lab,
        """\
version: 1
nodes:
  pod1: {host: 203.0.113.11, gpus: {count: 1, exporter_port: 9400}}
  pod2: {host: 203.0.113.12, gpus: {source: prometheus, exporter_port: 70000}}
tunnels:
  a: {node: ghost, remote: "127.0.0.1:9400"}
  b: {node: pod1, remote: "9400"}
  c: {node: pod1, remote: "127.0.0.1:9400", local_port: 19400}
  d: {node: pod1, remote: "127.0.0.1:9401", local_port: 19400}
  e: {node: pod1, remote: "127.0.0.1:9402", labels: {__name__: x, ok: [1]}}
  f: {node: pod1}
  g: {node: pod1, remote: "[1:2:3:4:5:6:7:8:9]:1", local_port: 0, colour: red}
  "bad name": {node: pod1, remote: "127.0.0.1:1"}
""",
    )
    assert problems(path) == [
        "lab.yaml: nodes.pod1.gpus.exporter_port: only with source: prometheus"
        " (the exporter the tunnel reaches)",
        "lab.yaml:4: nodes.pod2.gpus.exporter_port: must be between 1 and 65535",
        "lab.yaml:6: tunnels.a.node: 'ghost' is not a node of this inventory",
        "lab.yaml:7: tunnels.b.remote: must be HOST:PORT as seen from the node, e.g. 127.0.0.1:9400"
        " ([::1]:9400 for IPv6)",
        "lab.yaml:9: tunnels.d.local_port: 19400 is already tunnel 'c''s",
        "lab.yaml:10: tunnels.e.labels.__name__: a label name is [A-Za-z_][A-Za-z0-9_]*"
        " and never starts with __",
        "lab.yaml:10: tunnels.e.labels.ok: expected a string",
        "lab.yaml:11: tunnels.f.remote: missing required key",
        "lab.yaml:12: tunnels.g.remote: '1:2:3:4:5:6:7:8:9' in brackets is not an IPv6 address",
        "lab.yaml:12: tunnels.g.local_port: must be between 1 and 65535",
        "lab.yaml:12: tunnels.g.colour: unknown key",
        "lab.yaml:13: tunnels.bad name: tunnel names must start with a letter or digit"
        " and use only A-Za-z0-9_.-",
    ]


def test_tunnels_must_be_a_mapping(lab: Path) -> None:
    path = write(lab, "version: 1\nnodes:\n  a: {host: h}\ntunnels: [a]\n")
    assert problems(path) == [
        "lab.yaml:4: tunnels: expected a mapping of tunnel name to {node, remote, local_port}"
    ]
