"""What the demo fleet's Prometheus answers (the fleet itself is built in console/demo/fleet.py).

The Prometheus answers are derived from the fleet's own recorded polls, labelled as dcgm-exporter labels
them, so the explorer and the fleet screen tell the same story.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from console.collectors.gpu import GpuReading
from console.collectors.prometheus import (
    AlertInfo,
    AlertState,
    InstantResult,
    Labels,
    RangeSeries,
    Sample,
    TargetInfo,
)
from console.demo.sources import RecordedPrometheus
from console.inventory.model import Inventory
from console.snapshots import NodeSnapshot

DCGM: dict[str, Callable[[GpuReading], float | None]] = {
    "DCGM_FI_DEV_GPU_UTIL": lambda r: r.util_gpu_pct,
    "DCGM_FI_DEV_GPU_TEMP": lambda r: r.temperature_c,
    "DCGM_FI_DEV_POWER_USAGE": lambda r: r.power_draw_w,
    "DCGM_FI_DEV_FB_USED": lambda r: r.memory_used_mib,
    "DCGM_FI_DEV_SM_CLOCK": lambda r: r.sm_clock_mhz,
}
OTHER_METRICS = (
    "node_filesystem_avail_bytes",
    "node_load1",
    "node_memory_MemAvailable_bytes",
    "opsconsole_check_status",
    "scrape_duration_seconds",
    "up",
)
ERRORS = {
    "rate(DCGM_FI_DEV_GPU_UTIL)": (
        'parse error at char 5: expected type range vector in call to function "rate", got instant vector'
    ),
}


def _labels(**labels: str) -> Labels:
    return tuple(sorted(labels.items()))


def _gpu_labels(metric: str, snapshot: NodeSnapshot, reading: GpuReading, host: str) -> Labels:
    return _labels(
        __name__=metric,
        Hostname=snapshot.node,
        UUID=reading.uuid,
        gpu=str(reading.index),
        instance=f"{host}:9400",
        job="dcgm",
        modelName=reading.name,
    )


def recorded_prometheus(
    inventory: Inventory, past: Mapping[str, tuple[NodeSnapshot, ...]], at: datetime
) -> RecordedPrometheus:
    hosts = {node.name: node.host for node in inventory.nodes}
    latest = {name: series[-1] for name, series in past.items()}
    when = at.timestamp()
    instant: dict[str, InstantResult] = {}
    for metric, value_of in DCGM.items():
        samples = []
        for name, snapshot in latest.items():
            if snapshot.gpu is None or snapshot.gpu.status != "ok":
                continue
            for reading in snapshot.gpu.gpus:
                value = value_of(reading)
                if value is not None:
                    samples.append(Sample(_gpu_labels(metric, snapshot, reading, hosts[name]), value, when))
        instant[metric] = InstantResult(metric, "vector", tuple(samples))

    targets: list[TargetInfo] = []
    for node in inventory.nodes:
        snapshot = latest[node.name]
        scrape = at - timedelta(seconds=1.2)
        error = (
            None
            if snapshot.reachable
            else f'Get "http://{node.host}:9100/metrics": connect: connection refused'
        )
        targets.append(
            TargetInfo(
                "node",
                f"{node.host}:9100",
                "up" if error is None else "down",
                error,
                scrape,
                f"http://{node.host}:9100/metrics",
            )
        )
        if snapshot.gpu is not None and snapshot.gpu.status == "ok":
            targets.append(
                TargetInfo(
                    "dcgm", f"{node.host}:9400", "up", None, scrape, f"http://{node.host}:9400/metrics"
                )
            )
    instant["up"] = InstantResult(
        "up",
        "vector",
        tuple(
            Sample(
                _labels(__name__="up", instance=target.instance, job=target.job),
                float(target.health == "up"),
                when,
            )
            for target in targets
        ),
    )

    def range_of(metric: str) -> Callable[[datetime, datetime, float], tuple[RangeSeries, ...]]:
        value_of = DCGM[metric]

        def make(start: datetime, end: datetime, step_s: float) -> tuple[RangeSeries, ...]:
            series = []
            count = int((end - start).total_seconds() // step_s) + 1
            for name, recorded in past.items():
                if recorded[-1].gpu is None or recorded[-1].gpu.status != "ok":
                    continue
                for reading in recorded[-1].gpu.gpus:
                    points = []
                    for k in range(count):  # the recorded polls, stretched over the window
                        gpu = recorded[k * len(recorded) // count].gpu
                        if gpu is None or reading.index >= len(gpu.gpus):
                            continue
                        value = value_of(gpu.gpus[reading.index])
                        if value is not None:
                            points.append((start.timestamp() + k * step_s, value))
                    labels = _gpu_labels(metric, recorded[-1], reading, hosts[name])
                    series.append(RangeSeries(labels, tuple(points)))
            return tuple(series)

        return make

    def alert(
        name: str, state: AlertState, severity: str, summary: str, ago: timedelta, **labels: str
    ) -> AlertInfo:
        return AlertInfo(
            name,
            state,
            severity,
            _labels(alertname=name, severity=severity, **labels),
            summary,
            None,
            at - ago,
        )

    alerts = (
        alert("NodeDown", "firing", "critical", "cerberus (10.60.0.1) is not answering scrapes",
              timedelta(minutes=42), instance="10.60.0.1:9100"),
        alert("GpuMissing", "firing", "warning", "rack-a2 reports 3 of 4 GPUs", timedelta(hours=3),
              Hostname="rack-a2"),
        alert("NfsMountSlow", "pending", "warning", "statfs on /mnt/datasets is slow", timedelta(minutes=2),
              Hostname="pod-7"),
    )  # fmt: skip
    return RecordedPrometheus(
        instant=instant,
        ranges={metric: range_of(metric) for metric in DCGM},
        targets=tuple(targets),
        alerts=alerts if "cerberus" in latest else (),
        metric_names=tuple(sorted([*DCGM, *OTHER_METRICS])),
        errors=ERRORS,
    )
