"""GPU readings from Prometheus: the real lab Prometheus (DCGM and simulator series), and the mapping."""

from __future__ import annotations

import math

from console.collectors.gpu_prometheus import (
    NO_SERIES,
    collect_fleet_gpus_from_prometheus,
    collect_gpus_from_prometheus,
    gpu_series_query,
    instance_host,
    map_gpu_samples,
)
from console.collectors.prometheus import PrometheusClient, Sample
from console.inventory.model import Node
from tests.lab.exporter import IDLE, LOAD, SECOND
from tests.lab.prometheus import PrometheusLab

GPU1 = Node("gpu1", "127.0.0.1")  # the DCGM series carry Hostname="gpu1"
SIM1 = Node("sim1", "sim1.lab")  # the simulator target is relabelled to instance sim1.lab:9400
BARE = Node("plain1", "10.70.0.99")  # nothing in Prometheus


async def test_dcgm_series_become_two_h100_readings(prometheus_lab: PrometheusLab) -> None:
    with PrometheusClient(prometheus_lab.url, timeout=5) as prom:
        fleet = await collect_fleet_gpus_from_prometheus(prom, (GPU1, SIM1, BARE))
    snap = fleet["gpu1"]
    assert (snap.node, snap.source, snap.status, snap.error) == ("gpu1", "prometheus", "ok", None)
    assert snap.duration_s is not None
    assert snap.driver == "580.159.04"
    gpu0, gpu1 = snap.gpus
    assert (gpu0.index, gpu0.uuid, gpu0.pci_bus_id) == (0, LOAD.uuid, "00000000:00:06.0")
    assert (gpu1.index, gpu1.uuid) == (1, SECOND.uuid)
    for gpu in snap.gpus:
        assert gpu.name == "NVIDIA H100 80GB HBM3"
        assert gpu.util_gpu_pct == 100
        assert gpu.memory_used_mib == 21619
        assert gpu.memory_total_mib == 81559  # used + free + reserved, as nvidia-smi reports it
        assert gpu.temperature_c == 59
        assert gpu.power_draw_w == 692.73
        assert gpu.sm_clock_mhz == 1305
        # Not exported by the lab's DCGM endpoint (nor by dcgm-exporter's defaults): None, not an error.
        assert (gpu.util_mem_pct, gpu.mem_clock_mhz, gpu.power_limit_w, gpu.fan_pct) == (None,) * 4


async def test_simulator_series_map_likewise(prometheus_lab: PrometheusLab) -> None:
    with PrometheusClient(prometheus_lab.url, timeout=5) as prom:
        fleet = await collect_fleet_gpus_from_prometheus(prom, (GPU1, SIM1, BARE))
    snap = fleet["sim1"]
    assert (snap.source, snap.status) == ("prometheus", "ok")
    busy, idle = snap.gpus
    assert (busy.index, busy.uuid, busy.name, busy.driver) == (0, "gpu0", "unknown GPU", None)
    assert (busy.util_gpu_pct, busy.memory_used_mib, busy.memory_total_mib) == (100, 21619, 81559)
    assert (busy.temperature_c, busy.power_draw_w, busy.sm_clock_mhz) == (59, 692.73, None)
    assert (idle.index, idle.util_gpu_pct, idle.memory_used_mib) == (1, 0, 0)
    assert (idle.temperature_c, idle.power_draw_w) == (IDLE.temperature_c, IDLE.power_draw_w)


async def test_node_without_series_is_an_error_snapshot(prometheus_lab: PrometheusLab) -> None:
    with PrometheusClient(prometheus_lab.url, timeout=5) as prom:
        fleet = await collect_fleet_gpus_from_prometheus(prom, (GPU1, SIM1, BARE))
    bare = fleet["plain1"]
    assert (bare.source, bare.status, bare.error, bare.gpus) == ("prometheus", "error", NO_SERIES, ())
    assert NO_SERIES == "no GPU series in Prometheus for this node"


async def test_one_node_query_is_filtered_and_agrees_with_the_fleet(prometheus_lab: PrometheusLab) -> None:
    with PrometheusClient(prometheus_lab.url, timeout=5) as prom:
        fleet = await collect_fleet_gpus_from_prometheus(prom, (GPU1, SIM1))
        one = await collect_gpus_from_prometheus(prom, SIM1)
        # The filtered query itself returns only sim1's series: PromQL did the matching, not just Python.
        filtered = await prom.query(gpu_series_query((SIM1,)))
        by_name = await collect_gpus_from_prometheus(prom, Node("gpu1", "gpu1.example"))
    assert one.gpus == fleet["sim1"].gpus
    assert filtered.samples
    assert {s.label("instance") for s in filtered.samples} == {"sim1.lab:9400"}
    assert by_name.gpus == fleet["gpu1"].gpus  # Hostname label == node name


async def test_unreachable_prometheus_gives_every_node_an_error(prometheus_lab: PrometheusLab) -> None:
    url = f"http://127.0.0.1:{prometheus_lab.dead_port}"
    with PrometheusClient(url, timeout=2) as prom:
        fleet = await collect_fleet_gpus_from_prometheus(prom, (GPU1, SIM1))
    for name in ("gpu1", "sim1"):
        assert (fleet[name].status, fleet[name].error) == (
            "error",
            f"Prometheus at {url} unreachable: connection refused",
        )


# The mapping alone, on constructed samples.


def sample(name: str, value: float, **labels: str) -> Sample:
    return Sample(tuple(sorted({"__name__": name, **labels}.items())), value, 1795374000.0)


def test_missing_series_are_none_and_nan_is_none() -> None:
    labels = {"gpu": "3", "UUID": "GPU-x", "Hostname": "gpu-a", "instance": "10.0.0.9:9400"}
    fleet = map_gpu_samples(
        [
            sample("DCGM_FI_DEV_GPU_UTIL", 42, **labels),
            sample("DCGM_FI_DEV_GPU_TEMP", math.nan, **labels),
            sample("DCGM_FI_DEV_FB_USED", 1000, **labels),  # no FB_FREE: total unknown
            sample("node_load1", 3.0, instance="10.0.0.9:9100"),  # not a GPU series: ignored
        ],
        (Node("gpu-a", "10.70.0.21"),),
    )
    (gpu,) = fleet["gpu-a"].gpus
    assert (gpu.index, gpu.uuid, gpu.name) == (3, "GPU-x", "unknown GPU")
    assert (gpu.util_gpu_pct, gpu.temperature_c, gpu.memory_used_mib, gpu.memory_total_mib) == (
        42,
        None,
        1000,
        None,
    )
    assert (gpu.power_draw_w, gpu.sm_clock_mhz) == (None, None)


def test_series_are_matched_by_hostname_first_then_instance_host() -> None:
    nodes = (Node("gpu-a", "10.70.0.21"), Node("gpu-b", "10.70.0.22"), Node("v6", "::1"))
    fleet = map_gpu_samples(
        [
            # Hostname names gpu-a (case does not matter), although the instance is gpu-b's address.
            sample("DCGM_FI_DEV_GPU_UTIL", 1, gpu="0", Hostname="GPU-A", instance="10.70.0.22:9400"),
            # Hostname of a pod no node is called: fall back to the instance, which is gpu-b's host.
            sample("DCGM_FI_DEV_GPU_UTIL", 2, gpu="0", Hostname="dcgm-pod-7f", instance="10.70.0.22:9400"),
            sample("gpu_utilization_percent", 3, gpu_id="gpu2", instance="[::1]:9835"),
            sample("gpu_utilization_percent", 4, gpu_id="0", instance="10.70.0.99:9835"),  # nobody's
        ],
        nodes,
    )
    assert [g.util_gpu_pct for g in fleet["gpu-a"].gpus] == [1]
    assert [g.util_gpu_pct for g in fleet["gpu-b"].gpus] == [2]
    assert [(g.index, g.util_gpu_pct) for g in fleet["v6"].gpus] == [(2, 3)]
    assert (instance_host("[::1]:9835"), instance_host("gpu-a:9400"), instance_host("gpu-a")) == (
        "::1",
        "gpu-a",
        "gpu-a",
    )


def test_node_filter_query_escapes_names_for_promql() -> None:
    query = gpu_series_query((Node("gpu.a", "10.70.0.21"),))
    assert 'Hostname=~"(?i)(10\\\\.70\\\\.0\\\\.21|gpu\\\\.a)"' in query
    assert " or " in query
    assert gpu_series_query().startswith('{__name__=~"DCGM_FI_DEV_GPU_UTIL|')
