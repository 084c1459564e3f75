"""The inventory's `fleet:` and `monitoring:` keys: a fleet read from Prometheus may list no node; every
mistake is named with its line, all in one pass."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from console.inventory.loader import InventoryError, load_inventory
from console.inventory.model import FleetSettings, MonitoringSettings


def _load(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "fleet.yaml"
    path.write_text(text, encoding="utf-8")
    return load_inventory(path)


def test_a_prometheus_fleet_needs_no_nodes(tmp_path: Path) -> None:
    inventory = _load(
        tmp_path,
        'version: 1\nprometheus: {url: "http://prometheus.mgmt:9090"}\n'
        "fleet:\n  source: prometheus\n  node_label: instance\n"
        'monitoring: {grafana: "http://grafana.mgmt:3000", alertmanager: "http://am.mgmt:9093"}\n',
    )
    assert inventory.nodes == ()
    assert inventory.fleet == FleetSettings("prometheus", "instance", "1m")
    assert inventory.monitoring == MonitoringSettings("http://grafana.mgmt:3000", "http://am.mgmt:9093")


def test_nodes_and_the_fleet_combine(tmp_path: Path) -> None:
    inventory = _load(
        tmp_path,
        'version: 1\nprometheus: {url: "http://p:9090"}\nfleet: {source: prometheus, node_label: Hostname}\n'
        "nodes:\n  gpu-a: {host: 10.0.0.5}\n",
    )
    assert [node.name for node in inventory.nodes] == ["gpu-a"]
    assert inventory.fleet.node_label == "Hostname"


def test_without_a_fleet_key_nodes_stay_required(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match="nodes: missing required key"):
        _load(tmp_path, "version: 1\n")
    assert _load(tmp_path, "version: 1\nnodes: {a: {host: h}}\n").fleet == FleetSettings()


def test_every_mistake_is_named_with_its_line(tmp_path: Path) -> None:
    with pytest.raises(InventoryError) as caught:
        _load(
            tmp_path,
            "version: 1\nfleet: {source: prometheus}\n"
            'monitoring: {grafana: "ftp://g", timeout: -1, extra: 1}\n'
            "nodes: {a: {host: h}}\n",
        )
    found = {(problem.line, problem.key) for problem in caught.value.errors}
    assert found >= {
        (2, "fleet.source"),
        (3, "monitoring.grafana"),
        (3, "monitoring.timeout"),
        (3, "monitoring.extra"),
    }
    with pytest.raises(InventoryError) as caught:
        _load(
            tmp_path,
            'version: 1\nprometheus: {url: "http://p:9090"}\n'
            'fleet: {node_label: "a b", rate_window: "1 min"}\nnodes: {a: {host: h}}\n',
        )
    assert {problem.key for problem in caught.value.errors} == {"fleet.node_label", "fleet.rate_window"}


def test_discovered_nodes_take_the_defaults_and_the_prometheus_group(tmp_path: Path) -> None:
    from console.fleet_from_prometheus import PromFleet
    from console.model.checks import Status
    from console.model.prom_fleet import PromFleetSnapshot, PromNode

    inventory = _load(
        tmp_path,
        'version: 1\nprometheus: {url: "http://p:9090"}\nfleet: {source: prometheus}\n'
        "defaults:\n  thresholds: {gpu_temperature: {warn: 70, crit: 80}}\n  gpus: {count: 4}\n"
        "groups:\n  prometheus: {gpus: {count: 8}, power_budget_w: 5600}\n",
    )
    template = inventory.discovered_node
    assert template is not None
    assert template.thresholds.gpu_temperature.warn == 70
    assert template.gpus.count == 8  # the group over defaults
    assert template.power_budget_w == 5600

    class Reader:
        async def read(self) -> PromFleetSnapshot:
            raise AssertionError("not read")

        async def node_gpus(self, node):  # type: ignore[no-untyped-def]
            raise AssertionError("not read")

    fleet = PromFleet(inventory, Reader())
    now = datetime.now(UTC)
    hot = PromNode(
        "gpu-9", gpu_count=8, gpu_temp_max_c=75.0, up=True, newest_sample_at=now.timestamp(), age_s=1.0
    )
    merged = fleet.merge(PromFleetSnapshot(now, "http://p:9090", (hot,)))
    (node,) = merged.added
    assert (node.name, node.host, node.groups) == ("gpu-9", "gpu-9", ("prometheus",))
    assert node.thresholds.gpu_temperature.warn == 70
    results = {r.check: r for r in fleet.verdict(node, merged.snapshots[0]).results}
    assert results["gpu.temperature"].status is Status.WARNING  # 75 °C: over the inventory's 70, under 85
    assert results["gpu.count"].status is Status.OK  # 8 expected, 8 seen


def test_without_defaults_discovered_nodes_take_the_built_in_ones(tmp_path: Path) -> None:
    inventory = _load(
        tmp_path, 'version: 1\nprometheus: {url: "http://p:9090"}\nfleet: {source: prometheus}\n'
    )
    assert inventory.discovered_node is not None
    assert inventory.discovered_node.thresholds.gpu_temperature.warn == 85
    ssh_only = _load(tmp_path, "version: 1\nnodes: {a: {host: h}}\n")
    assert ssh_only.discovered_node is None


def test_a_bad_threshold_for_discovered_nodes_is_named(tmp_path: Path) -> None:
    with pytest.raises(InventoryError) as caught:
        _load(
            tmp_path,
            'version: 1\nprometheus: {url: "http://p:9090"}\nfleet: {source: prometheus}\n'
            "defaults:\n  thresholds: {gpu_temperature: {warn: 90, crit: 80}}\n",
        )
    assert any("gpu_temperature" in problem.key for problem in caught.value.errors), caught.value.errors
