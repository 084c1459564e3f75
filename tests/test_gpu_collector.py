"""GPU parsing on real H100 captures (tests/fixtures/gpu, recorded on a real node), and the local paths."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from console.collectors.gpu import (
    QUERY_COMMAND,
    GpuParseError,
    collect_gpus,
    parse_query_gpu,
)
from console.collectors.nvml import (
    read_nvml,
    read_nvml_processes,
    read_nvml_readings,
    read_nvml_with_processes,
)
from console.transport import LocalTransport

H100 = Path(__file__).parent / "fixtures" / "gpu" / "h100-80gb-hbm3"


def test_query_fields_match_the_capture_header() -> None:
    # The capture with headers names each field; our query must ask for the same ones in the same order.
    header = (H100 / "idle-query-gpu.csv").read_text().splitlines()[0]
    assert len(header.split(",")) == QUERY_COMMAND.split("=")[1].split(" ")[0].count(",") + 1


def test_idle_h100_capture_parses_every_field() -> None:
    (gpu,) = parse_query_gpu((H100 / "idle-query-gpu-noheader-nounits.csv").read_text())
    assert gpu.index == 0
    assert gpu.uuid == "GPU-862d267a-20ce-32e4-f9da-22573272ba66"
    assert gpu.name == "NVIDIA H100 80GB HBM3"
    assert gpu.driver == "580.159.04"
    assert gpu.pci_bus_id == "00000000:00:06.0"
    assert gpu.temperature_c == 42
    assert (gpu.util_gpu_pct, gpu.util_mem_pct) == (0, 0)
    assert (gpu.memory_used_mib, gpu.memory_total_mib) == (0, 81559)
    assert (gpu.power_draw_w, gpu.power_limit_w) == (70.64, 700.0)
    assert (gpu.sm_clock_mhz, gpu.mem_clock_mhz) == (345, 2619)
    assert gpu.fan_pct is None  # SXM boards have no fan: nvidia-smi says [N/A]
    assert gpu.pstate == "P0"
    assert gpu.ecc_uncorrected == 0


def test_load_series_parses_each_sample() -> None:
    rows = (H100 / "load-query-gpu-series.csv").read_text().splitlines()
    readings = [parse_query_gpu(row)[0] for row in rows]
    assert [r.util_gpu_pct for r in readings] == [100] * len(rows)
    assert readings[0].memory_used_mib == 21619
    assert readings[0].power_draw_w == 692.73
    assert [r.sm_clock_mhz for r in readings] == [1305, 1290, 1320, 1350, 1365]


@pytest.mark.parametrize("missing", ["[N/A]", "[Not Supported]", "Not Supported", "N/A", "[Unknown Error]"])
def test_unreported_values_are_none_not_errors(missing: str) -> None:
    row = (H100 / "idle-query-gpu-noheader-nounits.csv").read_text().strip().split(", ")
    row[5] = missing  # temperature.gpu
    row[11] = missing  # power.draw
    row[17] = missing  # ecc
    (gpu,) = parse_query_gpu(", ".join(row))
    assert gpu.temperature_c is None
    assert gpu.power_draw_w is None
    assert gpu.ecc_uncorrected is None
    assert gpu.util_gpu_pct == 0


def test_values_with_units_still_parse() -> None:
    # `--format=csv` (with units) minus its header: the parser must not be fooled by "42 %" or "70.64 W".
    row = (H100 / "idle-query-gpu.csv").read_text().splitlines()[1]
    (gpu,) = parse_query_gpu(row)
    assert gpu.memory_total_mib == 81559
    assert gpu.power_draw_w == 70.64


def test_several_gpus_and_blank_lines() -> None:
    row = (H100 / "idle-query-gpu-noheader-nounits.csv").read_text().strip()
    four = "\n".join(row.replace("0, GPU-", f"{i}, GPU-", 1) for i in range(4)) + "\n\n"
    assert [gpu.index for gpu in parse_query_gpu(four)] == [0, 1, 2, 3]


def test_wrong_field_count_is_a_parse_error() -> None:
    with pytest.raises(GpuParseError, match="expected 19 fields"):
        parse_query_gpu("0, GPU-x, NVIDIA H100\n")


class RecordedNvml:
    """A recorded stand-in for pynvml, replaying nvml-idle.json captured through pynvml on a real H100.

    No GPU exists on the test machines; this only checks our mapping of NVML's units onto GpuReading.
    """

    NVML_TEMPERATURE_GPU = 0
    NVML_CLOCK_SM = 1
    NVML_CLOCK_MEM = 2
    NVML_MEMORY_ERROR_TYPE_UNCORRECTED = 1
    NVML_VOLATILE_ECC = 0

    def __init__(self, capture: dict[str, Any]) -> None:
        self.capture = capture

    def _gpu(self, handle: int) -> dict[str, Any]:
        gpu: dict[str, Any] = self.capture["gpus"][handle]
        return gpu

    def nvmlSystemGetDriverVersion(self) -> str:
        return str(self.capture["driver"])

    def nvmlDeviceGetCount(self) -> int:
        return int(self.capture["count"])

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        return index

    def nvmlDeviceGetName(self, handle: int) -> str:
        return str(self._gpu(handle)["name"])

    def nvmlDeviceGetUUID(self, handle: int) -> str:
        return str(self._gpu(handle)["uuid"])

    def nvmlDeviceGetUtilizationRates(self, handle: int) -> SimpleNamespace:
        return SimpleNamespace(gpu=self._gpu(handle)["util_gpu"], memory=self._gpu(handle)["util_mem"])

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> SimpleNamespace:
        return SimpleNamespace(total=self._gpu(handle)["mem_total"], used=self._gpu(handle)["mem_used"])

    def nvmlDeviceGetTemperature(self, handle: int, sensor: int) -> int:
        return int(self._gpu(handle)["temp"])

    def nvmlDeviceGetPowerUsage(self, handle: int) -> int:
        return int(self._gpu(handle)["power_mw"])

    def nvmlDeviceGetEnforcedPowerManagementLimit(self, handle: int) -> int:
        return int(self._gpu(handle)["power_limit_mw"])

    def nvmlDeviceGetClockInfo(self, handle: int, clock: int) -> int:
        if clock == self.NVML_CLOCK_SM:
            return int(self._gpu(handle)["sm_clock"])
        raise RuntimeError("Not Supported")  # the capture has no memory clock

    def nvmlDeviceGetPerformanceState(self, handle: int) -> int:
        return int(self._gpu(handle)["pstate"])

    def nvmlDeviceGetFanSpeed(self, handle: int) -> int:
        raise RuntimeError(self._gpu(handle)["fan_error"])  # what pynvml raised on the real SXM board

    def nvmlDeviceGetPciInfo(self, handle: int) -> SimpleNamespace:
        raise RuntimeError("not captured")

    def nvmlDeviceGetTotalEccErrors(self, handle: int, kind: int, counter: int) -> int:
        return 0

    def nvmlDeviceGetComputeRunningProcesses(self, handle: int) -> list[SimpleNamespace]:
        return [SimpleNamespace(**proc) for proc in self._gpu(handle)["procs"]]

    def nvmlDeviceGetProcessUtilization(self, handle: int, since_us: int) -> list[SimpleNamespace]:
        # NVML answers the samples newer than `since_us` (pynvml raises when there are none)
        samples = [s for s in self._gpu(handle).get("proc_util", ()) if s["timeStamp"] > since_us]
        if not samples:
            raise RuntimeError("Not Found")
        return [SimpleNamespace(**sample) for sample in samples]

    def nvmlSystemGetProcessName(self, pid: int) -> bytes:
        return f"/usr/bin/{self.names.get(pid, 'python3')}".encode()

    names: dict[int, str] = {}  # noqa: RUF012 - a replay table, never mutated


def test_nvml_mapping_matches_the_nvidia_smi_path_for_the_same_gpu() -> None:
    capture = json.loads((H100 / "nvml-idle.json").read_text())
    (nvml,) = read_nvml_readings(RecordedNvml(capture))
    (smi,) = parse_query_gpu((H100 / "idle-query-gpu-noheader-nounits.csv").read_text())
    # Identity and units agree; live values (used memory, power draw) were separate samples.
    for field in ("index", "uuid", "name", "driver", "temperature_c", "util_gpu_pct", "util_mem_pct"):
        assert getattr(nvml, field) == getattr(smi, field), field
    assert nvml.memory_total_mib == smi.memory_total_mib == 81559
    assert nvml.power_limit_w == smi.power_limit_w == 700.0
    assert nvml.sm_clock_mhz == smi.sm_clock_mhz
    assert nvml.pstate == smi.pstate == "P0"
    assert nvml.fan_pct is None
    assert smi.fan_pct is None
    assert nvml.mem_clock_mhz is None  # Not Supported is None, never an exception
    assert nvml.power_draw_w == pytest.approx(70.47)


def test_nvml_processes_are_mapped_like_compute_apps() -> None:
    capture = json.loads((H100 / "nvml-idle.json").read_text())
    nvml = RecordedNvml(capture)
    readings = read_nvml_readings(nvml)
    assert read_nvml_processes(nvml, readings) == ()  # idle: the capture's process list is empty
    # Under load the real board listed one python3 holding 21610 MiB (load-compute-apps.csv); replay that
    # through NVML's shape with this test's own pid, whose real /proc/PID/cgroup is on the host.
    capture["gpus"][0]["procs"] = [{"pid": os.getpid(), "usedGpuMemory": 21610 * 1024 * 1024}]
    (process,) = read_nvml_processes(nvml, readings)
    assert (process.pid, process.name, process.used_memory_mib) == (os.getpid(), "python3", 21610)
    assert process.gpu_uuid == "GPU-862d267a-20ce-32e4-f9da-22573272ba66"
    assert process.container_id is None  # a process on this host, not in a container


def test_nvml_per_process_utilisation_is_merged_into_the_processes() -> None:
    """nvmlDeviceGetProcessUtilization through the recorded stand-in: no per-process samples were captured
    (the H100 capture is idle), so they are replayed in pynvml's shape (pid, timeStamp in µs, smUtil,
    memUtil, encUtil, decUtil) with the load capture's values (load-pmon-shaped.txt: python3 at 99-100 % SM,
    32-34 % memory bandwidth). The real board is test_real_gpu_nvml_process_utilisation (marked gpu)."""
    capture = json.loads((H100 / "nvml-idle.json").read_text())
    nvml = RecordedNvml(capture)
    readings = read_nvml_readings(nvml)
    gpu = capture["gpus"][0]
    pid, other = os.getpid(), os.getpid() + 1
    gpu["procs"] = [
        {"pid": pid, "usedGpuMemory": 21610 * 1024 * 1024},
        {"pid": other, "usedGpuMemory": 1024 * 1024 * 1024},  # holds memory, runs no kernels: no sample
    ]
    now_us = time.time_ns() // 1000

    def sample(ago_s: float, sm: int, mem: int) -> dict[str, int]:
        stamp = now_us - int(ago_s * 1e6)
        return {"pid": pid, "timeStamp": stamp, "smUtil": sm, "memUtil": mem, "encUtil": 0, "decUtil": 0}

    gpu["proc_util"] = [
        sample(30.0, 0, 0),  # before the window of a first read (its last second): not counted
        sample(0.8, 100, 33),
        sample(0.5, 99, 32),
        sample(0.2, 100, 34),
        sample(0.1, 2**32 - 1, 33),  # an SM share past 100 % is no share: left out, its memory share kept
    ]
    seen: dict[str, int] = {}
    busy, idle = read_nvml_processes(nvml, readings, seen)
    assert busy.pid == pid
    assert busy.sm_pct == pytest.approx((100 + 99 + 100) / 3)
    assert busy.mem_bw_pct == pytest.approx((33 + 32 + 34 + 33) / 4)
    assert (idle.pid, idle.sm_pct, idle.mem_bw_pct) == (other, None, None)  # unknown, never a made-up 0
    # the next read counts only the samples since this one: none yet, so the shares are unknown
    again = read_nvml_processes(nvml, readings, seen)
    assert [(p.sm_pct, p.mem_bw_pct) for p in again] == [(None, None), (None, None)]
    gpu["proc_util"].append(sample(-0.1, 40, 10))  # the next sample NVML takes
    assert read_nvml_processes(nvml, readings, seen)[0].sm_pct == 40


@pytest.mark.gpu
@pytest.mark.skipif(read_nvml() is None, reason="needs an NVIDIA GPU and driver (NVML)")
def test_real_gpu_nvml_process_utilisation() -> None:
    read = read_nvml_with_processes()
    assert read is not None
    for process in read[1]:
        assert process.sm_pct is None or 0 <= process.sm_pct <= 100
        assert process.mem_bw_pct is None or 0 <= process.mem_bw_pct <= 100


async def test_local_node_without_gpu_tooling_says_so(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")  # no nvidia-smi anywhere here
    snapshot = await collect_gpus(LocalTransport("here"), nvml_reader=read_nvml_with_processes)
    if read_nvml() is None:
        assert snapshot.status == "no_tooling"
        assert snapshot.source == "nvidia-smi"
        assert "nvidia-smi not found" in (snapshot.error or "")
    else:  # a machine with a GPU driver answers through NVML instead
        assert snapshot.source == "nvml"


async def test_local_nvidia_smi_failure_is_reported_not_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "nvidia-smi"
    fake.write_text(
        "#!/bin/sh\n"
        "echo 'NVIDIA-SMI has failed because it couldn'\\''t communicate with the NVIDIA driver.'\n"
        "exit 9\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    snapshot = await collect_gpus(LocalTransport("here"), nvml_reader=lambda: None)
    assert snapshot.status == "error"
    assert "driver" in (snapshot.error or "")


@pytest.mark.gpu
@pytest.mark.skipif(read_nvml() is None, reason="needs an NVIDIA GPU and driver (NVML)")
async def test_real_gpu_nvml_and_nvidia_smi_agree() -> None:
    nvml = await collect_gpus(LocalTransport("here"))
    smi = await collect_gpus(LocalTransport("here"), nvml_reader=lambda: None)
    assert nvml.source == "nvml"
    assert smi.source == "nvidia-smi"
    assert [g.uuid for g in nvml.gpus] == [g.uuid for g in smi.gpus]
    assert [g.memory_total_mib for g in nvml.gpus] == [g.memory_total_mib for g in smi.gpus]
