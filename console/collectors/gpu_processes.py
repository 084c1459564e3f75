"""GPU processes and the container that owns each one (PID → /proc/PID/cgroup → container id)."""

from __future__ import annotations

import csv
import io
import re

from console.model.gpu import GpuProcess as GpuProcess
from console.text import clean_line, finite

APPS_FIELDS = ("pid", "process_name", "used_gpu_memory", "gpu_uuid")
APPS_QUERY = f"nvidia-smi --query-compute-apps={','.join(APPS_FIELDS)} --format=csv,noheader,nounits"
APPS_MARK = "@@compute-apps"
# Processes accepted from one answer: far more than GPUs can hold, few enough that a node cannot flood us.
MAX_PROCESSES = 1024
_PID = re.compile(r"[0-9]{1,10}")  # ASCII digits only: str.isdigit() also takes "²"
CGROUP_MARK = "@@cgroup "

# Runtimes name a container's cgroup after its id: docker-<id>.scope (systemd driver), /docker/<id>
# (cgroupfs), cri-containerd-<id>.scope, crio-<id>.scope, libpod-<id>.scope (podman), kubepods/.../<id>.
_CONTAINER_ID = re.compile(
    r"(?:docker-|cri-containerd-|crio-|libpod-|/docker/|/)([0-9a-f]{64})(?:\.scope)?(?:/|$)"
)


def container_id_from_cgroup(text: str) -> str | None:
    """The 64-hex container id in a /proc/PID/cgroup text, or None for a process on the host."""
    for line in text.splitlines():
        path = line.split(":", 2)[-1]
        match = _CONTAINER_ID.search(path)
        if match:
            return match.group(1)
    return None


def _number(raw: str) -> float | None:
    value = raw.strip()
    if not value or value.lower().strip("[]") in ("n/a", "not supported", "insufficient permissions"):
        return None
    return finite(value.split()[0])  # nan/inf are unknown


def parse_compute_apps(text: str) -> tuple[GpuProcess, ...]:
    """`--query-compute-apps=pid,process_name,used_gpu_memory,gpu_uuid --format=csv,noheader,nounits`."""
    processes: list[GpuProcess] = []
    try:
        for row in csv.reader(io.StringIO(text), skipinitialspace=True):
            if len(row) != len(APPS_FIELDS) or not _PID.fullmatch(row[0].strip()):
                continue  # blank lines, headers, or "No running processes found"
            if len(processes) == MAX_PROCESSES:
                break
            processes.append(
                GpuProcess(
                    pid=int(row[0]),
                    name=clean_line(row[1].strip()),
                    used_memory_mib=_number(row[2]),
                    gpu_uuid=clean_line(row[3].strip()) or None,
                )
            )
    except csv.Error:  # a garbled tail: keep the processes read so far
        pass
    return tuple(processes)


def apps_script() -> str:
    """Shell that prints the compute apps, then each one's cgroup, in the same round trip."""
    return (
        f"echo {APPS_MARK}; apps=$({APPS_QUERY} 2>/dev/null); printf '%s\\n' \"$apps\"; "
        "for pid in $(printf '%s\\n' \"$apps\" | cut -d, -f1); do "
        'case "$pid" in *[!0-9]*|"") continue;; esac; '
        f'echo "{CGROUP_MARK}$pid"; cat /proc/$pid/cgroup 2>/dev/null; done; exit 0'
    )


def parse_apps_output(text: str) -> tuple[GpuProcess, ...]:
    """Parse what `apps_script()` printed (the part after APPS_MARK)."""
    apps_text, _, rest = text.partition(CGROUP_MARK)
    processes = parse_compute_apps(apps_text)
    cgroups: dict[int, str] = {}
    for chunk in (CGROUP_MARK + rest).split(CGROUP_MARK)[1:] if rest else ():
        head, _, body = chunk.partition("\n")
        if _PID.fullmatch(head.strip()):
            cgroups[int(head.strip())] = body
    return tuple(
        GpuProcess(
            process.pid,
            process.name,
            process.used_memory_mib,
            process.gpu_uuid,
            container_id=container_id_from_cgroup(cgroups.get(process.pid, "")),
        )
        for process in processes
    )
