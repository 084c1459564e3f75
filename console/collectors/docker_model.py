"""The pure parsers that build the Docker snapshot (console/model/docker.py) from Engine API answers and the
host probe.

No I/O here: console/collectors/docker.py does the talking, these functions only read what came back, so they
are tested on real answers without a daemon.

What a container carries (its labels, command, image name, the status text) is written by whoever started
it, so every string is cleaned here (console/text.py) and numbers that are not numbers are dropped.
"""

from __future__ import annotations

import json
import re
import socket
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from console.model.docker import ContainerInfo as ContainerInfo
from console.model.docker import DockerSnapshot as DockerSnapshot
from console.model.docker import EngineInfo as EngineInfo
from console.model.docker import Health as Health
from console.model.docker import PublishedPort as PublishedPort
from console.model.inventory import Node
from console.text import clean_line, clean_optional

COMPOSE_PROJECT = "com.docker.compose.project"
COMPOSE_SERVICE = "com.docker.compose.service"
TCP_API_PORTS = (2375, 2376)  # Docker's registered ports: plain and TLS
DEFAULT_SOCKET = "/var/run/docker.sock"
DEFAULT_DATA_ROOT = "/var/lib/docker"
MAX_CONTAINERS = 5000  # containers read from one list (more are counted, not kept)
MAX_LABELS = 64  # labels kept per container
MAX_PORTS = 256  # published ports kept per container
# States whose exit code is the last run's ("restarting": the run that just ended). A running container's
# ExitCode is 0 until it ends, and a created one never ran: theirs say nothing.
EXITED_STATES = frozenset({"exited", "dead", "restarting"})
_EXITED_STATUS = re.compile(r"(?:Exited|Restarting) \((-?\d{1,4})\)")  # "Exited (3) 5 minutes ago"


@dataclass(frozen=True, slots=True)
class DaemonProcess:
    """One dockerd seen in /proc on the node, with its config file and its namespace's API-port listeners."""

    pid: int
    argv: tuple[str, ...]
    config: Mapping[str, Any] | None = None  # daemon.json, parsed; None when missing or not JSON
    config_unreadable: bool = False
    api_port_listeners: tuple[str, ...] = ()  # "ip:port" listening on 2375/2376 in its network namespace


def watched_containers(node: Node) -> tuple[str, ...]:
    """Containers the inventory names: docker.containers, then services' containers, without repeats."""
    names = list(node.docker.containers) if node.docker is not None else []
    names += [service.container for service in node.services if service.container]
    return tuple(dict.fromkeys(names))


def parse_time(text: object) -> datetime | None:
    """Docker's RFC 3339 times (nanoseconds, Z); its zero time "0001-01-01T00:00:00Z" is None."""
    if not isinstance(text, str) or not text or text.startswith("0001-01-01"):
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def health_from_status(status: str) -> Health | None:
    """The health Docker appends to a list entry's Status: "Up 3 seconds (health: starting)"."""
    if "(unhealthy)" in status:
        return "unhealthy"
    if "(healthy)" in status:
        return "healthy"
    if "(health: starting)" in status:
        return "starting"
    return None


def _health(value: object) -> Health | None:
    if value in ("healthy", "unhealthy", "starting"):
        return value
    return None


def parse_ports(entries: object) -> tuple[PublishedPort, ...]:
    """The list call's Ports; entries without a PublicPort are only exposed, not published."""
    ports: list[PublishedPort] = []
    for entry in entries[:MAX_PORTS] if isinstance(entries, list) else ():
        if not isinstance(entry, Mapping) or not entry.get("PublicPort"):
            continue
        host_port, container_port = _port(entry.get("PublicPort")), _port(entry.get("PrivatePort") or 0)
        if host_port is None or container_port is None:
            continue
        ports.append(
            PublishedPort(
                host_ip=clean_line(entry.get("IP") or "0.0.0.0", limit=64),
                host_port=host_port,
                container_port=container_port,
                protocol=clean_line(entry.get("Type") or "tcp", limit=16),
            )
        )
    return tuple(sorted(set(ports), key=lambda port: (port.host_port, port.host_ip, port.protocol)))


def _port(value: object) -> int | None:
    """A port number as Docker's JSON gives it; anything else (a string, a float, a bool) is None."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 65535:
        return value
    return None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def exit_code_from_status(state: str, status: str) -> int | None:
    match = _EXITED_STATUS.match(status) if state in EXITED_STATES else None
    return int(match.group(1)) if match else None


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _labels(raw: object) -> tuple[tuple[str, str], ...]:
    if not isinstance(raw, Mapping):
        return ()
    cleaned = {clean_line(key, limit=256): clean_line(value) for key, value in list(raw.items())[:MAX_LABELS]}
    return tuple(sorted(cleaned.items()))


def parse_container(entry: Mapping[str, Any]) -> ContainerInfo:
    """One entry of `GET /containers/json?all=1`."""
    names = entry.get("Names") or []
    name = str(names[0]) if isinstance(names, list) and names else str(entry.get("Id", ""))[:12]
    raw_labels = entry.get("Labels")
    labels: Mapping[str, Any] = raw_labels if isinstance(raw_labels, Mapping) else {}
    status = clean_line(entry.get("Status") or "", limit=256)
    return ContainerInfo(
        id=clean_line(entry.get("Id", ""), limit=128),
        name=clean_line(name.lstrip("/"), limit=256),
        image=clean_line(entry.get("Image", "")),
        state=clean_line(entry.get("State", ""), limit=32),
        status=status,
        health=health_from_status(status),
        ports=parse_ports(entry.get("Ports")),
        compose_project=clean_optional(labels.get(COMPOSE_PROJECT)),
        compose_service=clean_optional(labels.get(COMPOSE_SERVICE)),
        command=clean_optional(entry.get("Command")),
        labels=_labels(labels),
        exit_code=exit_code_from_status(clean_line(entry.get("State", ""), limit=32), status),
    )


def apply_inspect(container: ContainerInfo, inspect: Mapping[str, Any]) -> ContainerInfo:
    """Add what only inspect knows: restart count, start time, health (fresher than the list's text), the
    last exit code and the running init's pid (where the container's cgroup is found)."""
    state = inspect.get("State")
    state = state if isinstance(state, Mapping) else {}
    health = state.get("Health")
    health = health if isinstance(health, Mapping) else {}
    status = clean_line(state.get("Status") or container.state, limit=32)
    pid = _int(state.get("Pid"))
    return replace(
        container,
        state=status,
        exit_code=_int(state.get("ExitCode")) if status in EXITED_STATES else None,
        pid=pid if pid is not None and pid > 0 and status in ("running", "paused") else None,
        restart_count=_count(inspect.get("RestartCount")),
        started_at=parse_time(state.get("StartedAt")),
        health=_health(health.get("Status")) if health else None,
    )


# --- the engine and the host probe -------------------------------------------------------------------------


def _flag_values(argv: Sequence[str], long: str, short: str | None = None) -> list[str]:
    """Values of a repeatable flag in any of pflag's spellings: --host X, --host=X, -H X, -H=X, -HX."""
    values: list[str] = []
    args = list(argv[1:])
    for index, arg in enumerate(args):
        names = [long] + ([short] if short else [])
        if arg in names and index + 1 < len(args):
            values.append(args[index + 1])
        elif any(arg.startswith(name + "=") for name in names):
            values.append(arg.split("=", 1)[1])
        elif short and arg.startswith(short) and not arg.startswith("--") and len(arg) > len(short):
            values.append(arg[len(short) :])
    return values


def daemon_hosts(daemon: DaemonProcess) -> tuple[str, ...]:
    """Where the daemon listens: -H flags plus daemon.json "hosts"; Docker's default when neither says."""
    hosts = _flag_values(daemon.argv, "--host", "-H")
    configured = (daemon.config or {}).get("hosts")
    if isinstance(configured, list):
        hosts += [str(host) for host in configured]
    return tuple(dict.fromkeys(hosts)) or (f"unix://{DEFAULT_SOCKET}",)


def daemon_data_root(daemon: DaemonProcess) -> str:
    values = _flag_values(daemon.argv, "--data-root", None) + _flag_values(daemon.argv, "--graph", "-g")
    config = daemon.config or {}
    configured = config.get("data-root") or config.get("graph")
    return (values[-1] if values else None) or (str(configured) if configured else DEFAULT_DATA_ROOT)


def _same_path(left: str, right: str) -> bool:
    def norm(path: str) -> str:
        path = path.rstrip("/")
        return path[4:] if path.startswith("/var/run/") else path  # /var/run -> /run on every modern distro

    return norm(left) == norm(right)


def _serves_socket(daemon: DaemonProcess, path: str) -> bool:
    for host in daemon_hosts(daemon):
        if host.startswith("unix://") and _same_path(host[len("unix://") :], path):
            return True
        if host.startswith("fd://") and _same_path(path, DEFAULT_SOCKET):  # systemd socket activation
            return True
    return False


def pick_daemon(
    daemons: Sequence[DaemonProcess], socket_path: str, root_dir: str | None
) -> DaemonProcess | None:
    """The dockerd behind socket_path: the one naming the socket, else the one with /info's root dir, else
    the only one. None when that cannot be told (several daemons, none matching)."""
    for matches in (
        [daemon for daemon in daemons if _serves_socket(daemon, socket_path)],
        [daemon for daemon in daemons if root_dir and _same_path(daemon_data_root(daemon), root_dir)],
    ):
        if len(matches) == 1:
            return matches[0]
    return daemons[0] if len(daemons) == 1 else None


def _tcp_host(host: str) -> str | None:
    if host.startswith(("tcp://", "http://", "https://")):
        return host
    if "://" not in host and ":" in host:  # dockerd reads a bare host:port as TCP
        return f"tcp://{host}"
    return None


def tcp_listeners(
    daemons: Sequence[DaemonProcess], host_listeners: Sequence[str], socket_path: str, root_dir: str | None
) -> tuple[str, ...] | None:
    """The daemon's TCP API addresses: () none, None when it cannot be told.

    From its command line and daemon.json "hosts", plus anything listening on 2375/2376 in its network
    namespace (a systemd socket unit, a proxy). Without the daemon in /proc only a listener on 2375/2376 in
    the node's namespace is evidence; silence there proves nothing, so that is None.
    """
    daemon = pick_daemon(daemons, socket_path, root_dir)
    if daemon is None:
        return tuple(f"tcp://{address}" for address in host_listeners) or None
    found = [tcp for host in daemon_hosts(daemon) if (tcp := _tcp_host(host))]
    ports = {found_host.rsplit(":", 1)[-1] for found_host in found}
    found += [
        f"tcp://{address}" for address in daemon.api_port_listeners if address.rsplit(":", 1)[-1] not in ports
    ]
    if not found and daemon.config_unreadable:
        return None  # its daemon.json may name a TCP host we cannot read
    return tuple(dict.fromkeys(found))


def decode_proc_address(hex_address: str) -> str:
    """/proc/net/tcp{,6} "0100007F:0947" -> "127.0.0.1:2375" (IPv6 as "[::1]:2375")."""
    address, _, port_hex = hex_address.partition(":")
    port = int(port_hex, 16)
    raw = bytes.fromhex(address)
    if len(raw) == 4:
        return f"{socket.inet_ntop(socket.AF_INET, raw[::-1])}:{port}"
    words = struct.unpack("<4I", raw)  # four host-order (little-endian) 32-bit words
    return f"[{socket.inet_ntop(socket.AF_INET6, struct.pack('>4I', *words))}]:{port}"


MAX_CONFIG_BYTES = 1 << 20  # a daemon.json larger than this is not one


class HostProbeError(ValueError):
    """HOST_PROBE's output does not read as the probe writes it; the message says where, for people."""


def loads_bounded(text: str, max_bytes: int) -> Any:
    """json.loads for node data: ValueError when larger than max_bytes or nested past the parser's depth."""
    if len(text) > max_bytes:
        raise ValueError(f"larger than {max_bytes} bytes")
    try:
        return json.loads(text)
    except RecursionError:  # "[" * 200000: json's C scanner recurses once per level
        raise ValueError("nested too deeply") from None


def parse_host_probe(text: str) -> tuple[tuple[DaemonProcess, ...], tuple[str, ...]]:
    """Read HOST_PROBE's output (console/collectors/docker.py): the daemons, and 2375/2376 listeners in the
    node's own namespace. Raises HostProbeError (and nothing else) when the output is not the probe's."""
    try:
        return _parse_host_probe(text)
    except HostProbeError:
        raise
    except Exception as exc:  # never an exception of the parser's own from node output
        raise HostProbeError(f"unreadable dockerd probe output ({type(exc).__name__})") from exc


def _parse_host_probe(text: str) -> tuple[tuple[DaemonProcess, ...], tuple[str, ...]]:
    daemons: list[dict[str, Any]] = []
    host_listeners: list[str] = []
    section = ""
    body: list[str] = []

    def flush() -> None:
        if section == "config" and daemons:
            try:
                parsed = loads_bounded("\n".join(body) or "{}", MAX_CONFIG_BYTES)
            except ValueError:
                parsed = None
            daemons[-1]["config"] = parsed if isinstance(parsed, dict) else None

    # Split on "\n" only: every argument and config line is prefixed ("a ", "c "), so only the probe's own
    # lines start with "@@ ", and nothing a process name or argument holds can open a section.
    for line in text.split("\n"):
        if line.startswith("@@ "):
            flush()
            words = line.split(" ")
            section, body = words[1] if len(words) > 1 else "", []
            if section == "pid":
                if len(words) != 3 or not (words[2].isascii() and words[2].isdigit()):
                    raise HostProbeError(f"unreadable dockerd probe output: {clean_line(line, limit=80)}")
                daemons.append({"pid": int(words[2]), "argv": [], "listeners": []})
            elif section == "unreadable" and daemons:
                daemons[-1]["unreadable"] = True
            elif section not in ("config", "listen", "hostlisten", "unreadable"):
                raise HostProbeError(f"unreadable dockerd probe output: {clean_line(line, limit=80)}")
            continue
        if section == "pid" and daemons and line.startswith("a "):
            daemons[-1]["argv"].append(line[2:])
        elif section == "config" and line.startswith("c "):
            body.append(line[2:])
        elif section in ("listen", "hostlisten") and line.strip():
            try:
                address = decode_proc_address(line.strip())
            except (ValueError, struct.error):
                continue
            (daemons[-1]["listeners"] if section == "listen" and daemons else host_listeners).append(address)
    flush()
    return (
        tuple(
            DaemonProcess(
                pid=daemon["pid"],
                argv=tuple(daemon["argv"]),
                config=daemon.get("config"),
                config_unreadable=daemon.get("unreadable", False),
                api_port_listeners=tuple(dict.fromkeys(daemon["listeners"])),
            )
            for daemon in daemons
        ),
        tuple(dict.fromkeys(host_listeners)),
    )


def parse_engine(
    version: Mapping[str, Any],
    info: Mapping[str, Any],
    *,
    tcp: tuple[str, ...] | None,
    daemon: DaemonProcess | None = None,
) -> EngineInfo:
    """EngineInfo from `GET /version`, `GET /info` and what the host probe found."""
    runtimes = tuple(sorted(clean_line(name, limit=128) for name in list(info.get("Runtimes") or {})[:64]))
    root_dir = info.get("DockerRootDir")
    binary = daemon.argv[0] if daemon is not None and daemon.argv else ""
    snap = binary.startswith("/snap/") or str(root_dir or "").startswith(("/var/snap/", "/snap/"))
    default_runtime = info.get("DefaultRuntime")
    return EngineInfo(
        version=clean_line(version.get("Version") or info.get("ServerVersion") or "unknown", limit=128),
        api_version=clean_line(version.get("ApiVersion") or "unknown", limit=32),
        runtimes=runtimes,
        default_runtime=clean_line(default_runtime, limit=128) if default_runtime else None,
        nvidia_runtime="nvidia" in runtimes,
        tcp_listeners=None if tcp is None else tuple(clean_line(host, limit=256) for host in tcp[:64]),
        snap=snap,
        root_dir=clean_line(root_dir) if root_dir else None,
    )
