"""A real prometheus_client exporter on 127.0.0.1 serving GPU series for the lab Prometheus to scrape.

Two HTTP endpoints (one registry each), so that Prometheus sees two targets with their own `instance`:
- DCGM: dcgm-exporter's series and labels for two GPUs on node "gpu1". Both carry the values of the real
  H100 capture under load (tests/fixtures/gpu/h100-80gb-hbm3/load-query-gpu-series.csv, first row). GPU 0
  has the capture's UUID and PCI id; GPU 1 is a stand-in (the capture has one board): a UUID derived from
  the real one (uuid5) and the next PCI slot.
- simulator: the monitoring stack's GPU simulator series (label gpu_id, memory in bytes) for two GPUs:
  gpu_id 0 with the load capture's values, gpu_id 1 with the idle capture's.
"""

from __future__ import annotations

import csv
import uuid
from dataclasses import replace
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Gauge, start_http_server

from console.collectors.gpu import QUERY_FIELDS, GpuReading, parse_query_gpu_series
from tests.lab.common import CAPTURE_DIR, LAB_HOST

MIB = 1024 * 1024
DCGM_HOSTNAME = "gpu1"
DCGM_LABELS = ("gpu", "UUID", "device", "modelName", "Hostname", "DCGM_FI_DRIVER_VERSION", "pci_bus_id")


def _first_row(name: str) -> GpuReading:
    return parse_query_gpu_series((CAPTURE_DIR / name).read_text(encoding="utf-8"))[0]


def _first_row_free_mib(name: str) -> float:
    """memory.free of the capture's first row (GpuReading has no field for it)."""
    with (CAPTURE_DIR / name).open(encoding="utf-8") as fh:
        row = next(csv.reader(fh, skipinitialspace=True))
    return float(row[QUERY_FIELDS.index("memory.free")])


LOAD = _first_row("load-query-gpu-series.csv")
LOAD_FREE_MIB = _first_row_free_mib("load-query-gpu-series.csv")
IDLE = _first_row("idle-query-gpu-noheader-nounits.csv")
# The stand-in second board: the same readings under another identity.
SECOND = replace(
    LOAD, index=1, uuid=f"GPU-{uuid.uuid5(uuid.NAMESPACE_OID, LOAD.uuid)}", pci_bus_id="00000000:00:07.0"
)
DCGM_GPUS: tuple[GpuReading, ...] = (LOAD, SECOND)
SIMULATOR_GPUS: tuple[GpuReading, ...] = (LOAD, replace(IDLE, index=1))


def _num(value: float | None) -> float:
    assert value is not None, "the capture lacks a value the exporter serves"
    return value


def _dcgm_registry(hostname: str) -> CollectorRegistry:
    registry = CollectorRegistry()

    def gauge(name: str, doc: str) -> Gauge:
        return Gauge(name, doc, DCGM_LABELS, registry=registry)

    util = gauge("DCGM_FI_DEV_GPU_UTIL", "GPU utilization (in %).")
    used = gauge("DCGM_FI_DEV_FB_USED", "Framebuffer memory used (in MiB).")
    free = gauge("DCGM_FI_DEV_FB_FREE", "Framebuffer memory free (in MiB).")
    reserved = gauge("DCGM_FI_DEV_FB_RESERVED", "Framebuffer memory reserved (in MiB).")
    temp = gauge("DCGM_FI_DEV_GPU_TEMP", "GPU temperature (in C).")
    power = gauge("DCGM_FI_DEV_POWER_USAGE", "Power draw (in W).")
    sm_clock = gauge("DCGM_FI_DEV_SM_CLOCK", "SM clock frequency (in MHz).")
    for gpu in DCGM_GPUS:
        labels = {
            "gpu": str(gpu.index),
            "UUID": gpu.uuid,
            "device": f"nvidia{gpu.index}",
            "modelName": gpu.name,
            "Hostname": hostname,
            "DCGM_FI_DRIVER_VERSION": gpu.driver or "",
            "pci_bus_id": gpu.pci_bus_id or "",
        }
        total, in_use = _num(gpu.memory_total_mib), _num(gpu.memory_used_mib)
        util.labels(**labels).set(_num(gpu.util_gpu_pct))
        used.labels(**labels).set(in_use)
        # memory.free of the same capture row; what neither used nor free is, the driver reserves.
        free.labels(**labels).set(LOAD_FREE_MIB)
        reserved.labels(**labels).set(total - in_use - LOAD_FREE_MIB)
        temp.labels(**labels).set(_num(gpu.temperature_c))
        power.labels(**labels).set(_num(gpu.power_draw_w))
        sm_clock.labels(**labels).set(_num(gpu.sm_clock_mhz))
    return registry


def _simulator_registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    util = Gauge("gpu_utilization_percent", "GPU utilisation", ["gpu_id"], registry=registry)
    temp = Gauge("gpu_temperature_celsius", "GPU temperature", ["gpu_id"], registry=registry)
    used = Gauge("gpu_memory_usage_bytes", "GPU memory in use", ["gpu_id"], registry=registry)
    total = Gauge("gpu_memory_total_bytes", "GPU memory", ["gpu_id"], registry=registry)
    power = Gauge("gpu_power_draw_watts", "GPU power draw", ["gpu_id"], registry=registry)
    for gpu in SIMULATOR_GPUS:
        gpu_id = str(gpu.index)
        util.labels(gpu_id).set(_num(gpu.util_gpu_pct))
        temp.labels(gpu_id).set(_num(gpu.temperature_c))
        used.labels(gpu_id).set(_num(gpu.memory_used_mib) * MIB)
        total.labels(gpu_id).set(_num(gpu.memory_total_mib) * MIB)
        power.labels(gpu_id).set(_num(gpu.power_draw_w))
    return registry


class LabExporter:
    """Both endpoints on 127.0.0.1 ephemeral ports, served by prometheus_client's threads until close()."""

    def __init__(self, hostname: str = DCGM_HOSTNAME) -> None:
        self._servers: list[WSGIServer] = []
        try:
            self.dcgm_port = self._serve(_dcgm_registry(hostname))
            self.simulator_port = self._serve(_simulator_registry())
        except BaseException:
            self.close()
            raise

    def _serve(self, registry: CollectorRegistry) -> int:
        server, _thread = start_http_server(0, addr=LAB_HOST, registry=registry)
        self._servers.append(server)
        return int(server.server_port)

    def close(self) -> None:
        for server in self._servers:
            server.shutdown()  # stops serve_forever; its thread then ends
            server.server_close()
        self._servers.clear()

    def __enter__(self) -> LabExporter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
