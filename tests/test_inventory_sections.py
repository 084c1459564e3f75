"""The docker, mounts, services and prometheus sections of the inventory."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from console.inventory import InventoryError, load_inventory
from console.inventory.model import DockerSettings, HttpProbe, MountSpec, PrometheusSettings, ServiceSpec

FULL = """\
version: 1
name: pantheon
prometheus: {url: "http://127.0.0.1:9090", via: prometheus}
defaults:
  docker: {}
  thresholds: {container_restarts: {warn: 2, crit: 10}}
nodes:
  prometheus:
    host: 10.60.0.20
    docker: {socket: /run/user/1000/docker.sock, containers: [comfy, ollama]}
    mounts:
      - {path: /mnt/atlas/models, source: "atlas:/export/models", mode: ro, fstype: nfs4}
      - {path: /mnt/atlas/scratch, mode: rw, timeout: 2}
    services:
      - {name: comfy, container: comfy, port: 8188, bind: 127.0.0.1, http: {path: /, expect: 200}}
      - {name: ollama, port: 11434}
  atlas:
    host: 10.60.0.10
    docker: null
"""


@pytest.fixture
def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path / "lab.yaml"


def problems(path: Path, text: str) -> list[str]:
    path.write_text(textwrap.dedent(text))
    with pytest.raises(InventoryError) as info:
        load_inventory(path.name)
    return [str(p) for p in info.value.errors]


def test_full_sections_load(lab: Path) -> None:
    lab.write_text(FULL)
    inventory = load_inventory(lab.name)
    assert inventory.prometheus == PrometheusSettings(url="http://127.0.0.1:9090", via="prometheus")
    node = inventory.node("prometheus")
    assert node.docker == DockerSettings(socket="/run/user/1000/docker.sock", containers=("comfy", "ollama"))
    assert node.mounts == (
        MountSpec("/mnt/atlas/models", "atlas:/export/models", "ro", "nfs4"),
        MountSpec("/mnt/atlas/scratch", mode="rw", timeout=2.0),
    )
    assert node.services[0] == ServiceSpec("comfy", 8188, "comfy", "127.0.0.1", HttpProbe("/", 200))
    assert node.services[1] == ServiceSpec("ollama", 11434)
    assert node.thresholds.container_restarts.warn == 2
    assert node.thresholds.gpu_temperature.crit == 95  # untouched defaults survive the merge
    assert inventory.node("atlas").docker is None  # an explicit null clears defaults.docker


def test_defaults_docker_applies_to_every_node(lab: Path) -> None:
    lab.write_text("version: 1\ndefaults:\n  docker: {}\nnodes:\n  a: {host: h}\n")
    assert load_inventory(lab.name).node("a").docker == DockerSettings()


def test_section_errors_name_line_and_key(lab: Path) -> None:
    found = problems(
        lab,
        """\
        version: 1
        prometheus: {url: "127.0.0.1:9090", via: nosuch}
        nodes:
          a:
            host: h
            mounts:
              - {path: relative/path, mode: rox}
              - {source: "atlas:/x"}
            services:
              - {name: s, port: 70000, bind: localhost, http: {expect: 42}}
              - {name: s, port: 80}
            docker: {sockt: /x}
        """,
    )
    assert found == [
        "lab.yaml:2: prometheus.url: must start with http:// or https://",
        "lab.yaml:2: prometheus.via: 'nosuch' is not a node of this inventory",  # checked though url is wrong
        "lab.yaml:7: nodes.a.mounts[0].path: must be an absolute path",
        "lab.yaml:7: nodes.a.mounts[0].mode: expected one of ro, rw, got 'rox'",
        "lab.yaml:8: nodes.a.mounts[1].path: missing required key",
        "lab.yaml:10: nodes.a.services[0].port: must be between 1 and 65535",
        "lab.yaml:10: nodes.a.services[0].bind: must be an IP address such as 127.0.0.1, 0.0.0.0 or ::1",
        "lab.yaml:10: nodes.a.services[0].http.expect: must be an HTTP status (100-599)",
        "lab.yaml:11: nodes.a.services[1].name: duplicate name 's' (same as services[0] on line 10)",
        "lab.yaml:12: nodes.a.docker.sockt: unknown key",
    ]


def test_prometheus_via_must_name_a_node(lab: Path) -> None:
    found = problems(
        lab, 'version: 1\nprometheus: {url: "http://127.0.0.1:9090", via: nosuch}\nnodes:\n  a: {host: h}\n'
    )
    assert found == ["lab.yaml:2: prometheus.via: 'nosuch' is not a node of this inventory"]


def test_duplicate_service_names_and_mount_paths(lab: Path) -> None:
    found = problems(
        lab,
        """\
        version: 1
        nodes:
          a:
            host: h
            mounts: [{path: /m}, {path: /m}]
            services:
              - {name: s, port: 80}
              - {name: s, port: 81}
        """,
    )
    assert found == [
        "lab.yaml:5: nodes.a.mounts[1].path: duplicate path '/m' (same as mounts[0] on line 5)",
        "lab.yaml:8: nodes.a.services[1].name: duplicate name 's' (same as services[0] on line 7)",
    ]


def test_group_settings_merge_between_defaults_and_node(lab: Path) -> None:
    lab.write_text(
        textwrap.dedent(
            """\
            version: 1
            defaults:
              thresholds: {gpu_temperature: {warn: 85, crit: 95}}
              sshd: {}
            groups:
              rack-a:
                power_budget_w: 2800
                thresholds: {gpu_temperature: {warn: 80}}
                gpus: {count: 4, model: A100, driver: "590"}
              hot:
                thresholds: {gpu_temperature: {crit: 90}}
            nodes:
              a1: {host: h1, groups: [rack-a, hot]}
              a2:
                {host: h2, groups: [rack-a], power_budget_w: 3000, thresholds: {gpu_temperature: {warn: 70}}}
              lone:
                host: h3
                storage:
                  - {path: /mnt/local/nvme/ai/services/comfy-mnt, owner: "1024:1024", mode: 775}
                  - {path: /mnt/local/nvme/ai/models}
            """
        )
    )
    inventory = load_inventory(lab.name)
    a1, a2, lone = inventory.nodes
    assert a1.power_budget_w == 2800
    assert (a1.thresholds.gpu_temperature.warn, a1.thresholds.gpu_temperature.crit) == (80, 90)
    assert a1.gpus is not None
    assert a1.gpus.driver == "590"
    assert (a2.power_budget_w, a2.thresholds.gpu_temperature.warn) == (3000, 70)  # the node wins
    assert a2.thresholds.gpu_temperature.crit == 95
    assert lone.power_budget_w is None
    assert lone.gpus is None
    assert lone.sshd is not None
    assert lone.sshd.root_login == ("no", "prohibit-password")
    assert lone.storage[0].owner == "1024:1024"
    assert lone.storage[0].mode == "775"
    assert lone.storage[1].owner is None


def test_group_and_storage_errors(lab: Path) -> None:
    found = problems(
        lab,
        """\
        version: 1
        groups:
          rack-a: {host: x, power_budget_w: -1}
        nodes:
          a:
            host: h
            storage: [{path: rel, owner: ops, mode: "999"}]
        """,
    )
    assert found == [
        "lab.yaml:3: groups.rack-a.host: not allowed here",
        "lab.yaml:3: groups.rack-a.power_budget_w: must be greater than 0",
        "lab.yaml:7: nodes.a.storage[0].path: must be an absolute path",
        "lab.yaml:7: nodes.a.storage[0].owner: must be numeric uid:gid, e.g. 1024:1024",
        "lab.yaml:7: nodes.a.storage[0].mode: must be octal, e.g. 775",
    ]
