"""Hardware and OS: CPU, memory, GPUs, NIC speeds, /etc/os-release and SELinux mode, in one round trip.

One fixed command (`HARDWARE_COMMAND`, no inventory value in it) prints each source after a MARK line:
/proc/cpuinfo (only the lines parsed here), MemTotal, `nvidia-smi --query-gpu=name,memory.total` under a
remote `timeout` (a wedged driver costs seconds, not the poll), every /sys/class/net/*/speed with whether a
device sits behind the interface, os-release and /sys/fs/selinux/enforce. Hardware does not change while a
node is up, so the section reads this once per connection and again every several minutes
(console/streams/hardware.py), never per refresh.

Everything read is cleaned by console/text.py, numbers through `finite`; at most MAX_LINES lines are read,
MAX_GPUS GPUs and MAX_NICS interfaces kept.
"""

from __future__ import annotations

import shlex
import time
from datetime import UTC, datetime

from console.model.hardware import GpuInfo, HardwareSnapshot, NicInfo, OsRelease, SelinuxMode
from console.text import clean_line, finite
from console.transport.base import Transport, TransportError

MARK = "@@@opsconsole-hw"
NVIDIA_SMI_TIMEOUT_S = 10
MAX_LINES = 20_000  # cpuinfo's parsed lines: 4 per logical CPU
MAX_GPUS = 64
MAX_NICS = 512
FIELD_LIMIT = 200

HARDWARE_SCRIPT = r"""
M=@@@opsconsole-hw
echo "$M cpuinfo"
awk '/^(processor|model name|physical id|core id|Model)[[:space:]]*:/ { if (n++ < 20000) print }' \
  /proc/cpuinfo
echo "$M meminfo"
while read -r k v u; do [ "$k" = MemTotal: ] && { echo "$k $v $u"; break; }; done </proc/meminfo
echo "$M gpus"
PATH=$PATH:/usr/bin:/usr/local/bin:/usr/sbin
if command -v nvidia-smi >/dev/null 2>&1; then
  timeout -s KILL __TIMEOUT__ nvidia-smi --query-gpu=name,memory.total --format=csv,noheader,nounits 2>&1
  echo "$M rc $?"
else
  echo "$M rc absent"
fi
echo "$M nics"
n=0
for d in /sys/class/net/*; do
  [ -e "$d" ] && [ $n -lt 600 ] || continue
  n=$((n + 1))
  s=
  read -r s 2>/dev/null <"$d/speed"  # a link that is down: EINVAL, s stays empty
  if [ -e "$d/device" ]; then k=device; else k=virtual; fi
  echo "${d##*/} ${s:--} $k"
done
echo "$M os-release"
f=/etc/os-release
[ -r $f ] || f=/usr/lib/os-release
n=0
while { IFS= read -r l || [ -n "$l" ]; } && [ $n -lt 200 ]; do
  n=$((n + 1))
  [ ${#l} -gt 1024 ] || echo "$l"
done <$f
echo "$M selinux"
e=
if [ -e /sys/fs/selinux/enforce ]; then read -r e 2>/dev/null </sys/fs/selinux/enforce; echo "${e:-?}"
else echo absent; fi  # enforce has no newline: read fails at its end but sets e
echo "$M end"
""".replace("__TIMEOUT__", str(NVIDIA_SMI_TIMEOUT_S))
SCRIPT_NAME = "opsconsole-hardware"
# Fixed text: the read-only wrapper allows exactly this (console/sections/hardware.py declares it).
HARDWARE_COMMAND = shlex.join(["LC_ALL=C", "sh", "-c", HARDWARE_SCRIPT, SCRIPT_NAME])


def _field(value: str) -> str:
    return clean_line(" ".join(value.split()), limit=FIELD_LIMIT)


def parse_cpuinfo(text: str) -> tuple[str | None, int | None, int | None, int | None]:
    """(model name, physical cores, logical CPUs, sockets) from /proc/cpuinfo (or its parsed lines).

    Physical cores are the distinct (physical id, core id) pairs; None where the kernel gives no core ids
    (many VMs, some ARM boards). The model is x86's `model name`, else ARM's `Model`."""
    models: list[str] = []
    threads = 0
    pairs: set[tuple[str, str]] = set()
    sockets: set[str] = set()
    physical: str | None = None
    arm_model: str | None = None
    complete = True  # every processor block gave both ids
    block_ids = 0
    for line in text.split("\n")[:MAX_LINES]:
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key, value = key.strip(), value.strip()
        if key == "processor":
            if threads and block_ids != 2:
                complete = False
            threads += 1
            physical, block_ids = None, 0
        elif key == "model name" and value and len(models) < 8 and value not in models:
            models.append(value)
        elif key == "Model" and value:
            arm_model = value
        elif key == "physical id":
            physical, block_ids = value, block_ids + 1
            sockets.add(value)
        elif key == "core id" and physical is not None:
            pairs.add((physical, value))
            block_ids += 1
    if threads and block_ids != 2:
        complete = False
    model = models[0] if models else arm_model
    cores = len(pairs) if pairs and complete else None
    return (
        _field(model) if model else None,
        cores,
        threads or None,
        len(sockets) if sockets and complete else None,
    )


def parse_meminfo(text: str) -> float | None:
    """MemTotal in KiB."""
    for line in text.split("\n"):
        key, _, rest = line.partition(":")
        if key.strip() == "MemTotal":
            words = rest.split()
            if words and (words[1:] in ([], ["kB"])):
                try:
                    return finite(float(words[0]))
                except ValueError:
                    return None
    return None


def _mib(value: str) -> float | None:
    value = value.strip().removesuffix("MiB").strip()
    try:
        number = finite(float(value))
    except ValueError:  # [N/A], [Not Supported]
        return None
    return number if number is not None and number >= 0 else None


def parse_gpus(lines: list[str], rc: str) -> tuple[tuple[GpuInfo, ...] | None, str | None]:
    """nvidia-smi's `name, memory.total` lines (noheader, nounits) and its exit status: (GPUs, note).
    None GPUs: no answer (the note says why)."""
    if rc == "absent":
        return None, "no nvidia-smi on the node"
    if rc != "0":
        why = f"no answer within {NVIDIA_SMI_TIMEOUT_S}s" if rc in ("124", "137") else f"exited {rc}"
        detail = _field(" ".join(line.strip() for line in lines[:3]))
        return None, f"nvidia-smi {why}" + (f": {detail}" if detail else "")
    gpus: list[GpuInfo] = []
    for line in lines:
        if not line.strip():
            continue
        name, sep, memory = line.rpartition(",")
        if not sep or not name.strip():
            return None, f"nvidia-smi: {_field(line)}"  # a message, not CSV
        if len(gpus) < MAX_GPUS:
            gpus.append(GpuInfo(_field(name), _mib(memory)))
    return tuple(gpus), None


def parse_nics(lines: list[str]) -> tuple[NicInfo, ...]:
    """`NAME SPEED device|virtual` lines; SPEED in Mb/s, `-` or negative (link down): None."""
    nics: list[NicInfo] = []
    for line in lines[:MAX_NICS]:
        words = line.split()
        if len(words) != 3:
            continue
        try:
            speed = finite(float(words[1]))
        except ValueError:
            speed = None
        if speed is not None and speed <= 0:
            speed = None
        nics.append(NicInfo(_field(words[0]), speed, words[2] == "device"))
    return tuple(nics)


def parse_os_release(text: str) -> OsRelease:
    """os-release: `KEY=value` lines, values shell-quoted or bare (os-release(5))."""
    fields: dict[str, str] = {}
    for line in text.split("\n")[:200]:
        key, sep, value = line.strip().partition("=")
        if not sep or not key.isidentifier() or key.startswith("#"):
            continue
        try:
            words = shlex.split(value)
        except ValueError:
            words = [value.strip("\"'")]
        fields[key] = _field(" ".join(words))
    return OsRelease(
        id=fields.get("ID", "").lower() or None,
        id_like=tuple(word.lower() for word in fields.get("ID_LIKE", "").split()[:8]),
        version_id=fields.get("VERSION_ID") or None,
        pretty_name=fields.get("PRETTY_NAME") or None,
        name=fields.get("NAME") or None,
    )


def parse_selinux(text: str) -> SelinuxMode | None:
    """/sys/fs/selinux/enforce: 1 enforcing, 0 permissive; no selinuxfs: disabled."""
    value = text.strip()
    return {"1": "enforcing", "0": "permissive", "absent": "disabled"}.get(value)  # type: ignore[return-value]


def _parts(stdout: str) -> dict[str, list[str]]:
    parts: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in stdout.split("\n")[: MAX_LINES + 2000]:
        if line.startswith(MARK + " "):
            name = line[len(MARK) + 1 :].strip()
            if name.startswith("rc "):
                parts["gpus-rc"] = [name[3:]]
                current = None
                continue
            current = parts.setdefault(name, [])
        elif current is not None:
            current.append(line)
    return parts


def parse_hardware(
    node: str, stdout: str, *, taken_at: datetime, duration_s: float | None = None
) -> HardwareSnapshot:
    """Everything the hardware command printed."""
    parts = _parts(stdout)
    model, cores, threads, sockets = parse_cpuinfo("\n".join(parts.get("cpuinfo", [])))
    gpus, note = parse_gpus(parts.get("gpus", []), (parts.get("gpus-rc") or ["?"])[0].strip())
    os_lines = parts.get("os-release")
    return HardwareSnapshot(
        node,
        taken_at,
        cpu_model=model,
        cpu_cores=cores,
        cpu_threads=threads,
        cpu_sockets=sockets,
        memory_kib=parse_meminfo("\n".join(parts.get("meminfo", []))),
        gpus=gpus,
        nics=parse_nics(parts.get("nics", [])),
        os=parse_os_release("\n".join(os_lines)) if os_lines and any(os_lines) else None,
        selinux=parse_selinux("\n".join(parts.get("selinux", []))),
        notes=(note,) if note else (),
        duration_s=duration_s,
    )


async def collect_hardware(transport: Transport, node: str, *, timeout: float | None) -> HardwareSnapshot:
    """The node's hardware and OS in one round trip; never raises for node trouble."""
    started = time.monotonic()
    try:
        result = await transport.run(HARDWARE_COMMAND, timeout=timeout)
    except TransportError as exc:  # CommandTimeout too
        return HardwareSnapshot(
            node, datetime.now(UTC), error=clean_line(exc), duration_s=time.monotonic() - started
        )
    duration = time.monotonic() - started
    if f"{MARK} end" not in result.stdout:
        why = _field(" ".join((result.stderr or result.stdout)[:4096].splitlines()[:5]))
        return HardwareSnapshot(
            node,
            datetime.now(UTC),
            error=f"hardware: {why or f'exit {result.exit_status}'}",
            duration_s=duration,
        )
    return parse_hardware(node, result.stdout, taken_at=datetime.now(UTC), duration_s=duration)
