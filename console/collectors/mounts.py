"""Mount collector: is each inventory mount there, as what, read-only or not, answering, and its server up?

One `cat /proc/self/mountinfo` reads the mount table (never `df`, which touches, and can hang on, every
mount). Then, concurrently over the node's one connection, each mount present gets a responsiveness probe
and each NFS server a TCP connect to port 2049 from the node.

Why the probe looks the way it does: `statfs` on a hung NFS hard mount blocks in the kernel (state D), where
a remote `timeout`, even `timeout -s KILL`, may not end it; so nothing we wait on may make that call. The
remote command starts `stat -f` in a session of its own (setsid), its output going to a file, and waits for
it, bounded twice: by our deadline (MountSpec.timeout: we close the channel and report `hung`) and by a
remote `timeout` a second later that ends the waiting shell (which is never itself blocked). The blocked
`stat` stays behind; its pid and start time are in a per-user state directory on the node, and the next
poll that finds it still alive reports `hung` at once instead of starting another: one stuck process per
mount at most, however long the mount stays hung. That directory is the user's own (see _PROBE_SCRIPT):
another user who could write there could make a hung mount look answered.

Everything the node says (the mount table, stat's and rpcinfo's words) is cleaned by console/text.py; one
unreadable line of the mount table affects only the mount it names.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import os
import re
import shlex
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from console.collectors.mountinfo import (
    PATH_LIMIT,
    MountEntry,
    is_network_fstype,
    is_nfs_fstype,
    nfs_server_host,
    read_mountinfo,
    split_nfs_source,
    visible_mounts,
)
from console.inventory.model import MountSpec
from console.model.mounts import MountsSnapshot, MountStatus, Reachability, Responsive, ServerStatus
from console.text import clean_line
from console.transport.base import CommandTimeout, Transport, TransportError

__all__ = [
    "MOUNTINFO_COMMAND",
    "NFS_PORT",
    "MountStatus",
    "MountsSnapshot",
    "ProbeOutcome",
    "Reachability",
    "Responsive",
    "ServerStatus",
    "collect_mounts",
    "parse_probe_output",
    "parse_rpc_detail",
    "probe_command",
    "spec_server_host",
]

MOUNTINFO_COMMAND = "cat /proc/self/mountinfo"
MAX_PARALLEL_PROBES = 8  # sshd's MaxSessions is 10 by default, and other collectors share the connection

NFS_PORT = 2049
RPC_TOOL_TIMEOUT_S = 2  # rpcinfo / showmount, each, on the node: details only, never the verdict

# The remote probe (POSIX sh). $1 path, $2 state dir ("" → per-user default), $3 file name for this path.
# Prints one of:  "state-error WHY" | "stuck PID STATE SINCE NOW" | "done RC T0_NS T1_NS" + stat's stderr.
# The state directory holds the pids of probes that may be stuck: another user able to write there could
# fake or hide a hung mount, so it is one only the user can own ($XDG_RUNTIME_DIR, else ~/.cache, never
# /tmp), created 0700, and checked before every use: ours, not a symlink, nothing for group or others (an
# ACL's "+" counts as something). Anything else is reported, never trusted.
# An earlier probe is stuck while its pid is alive with the start time recorded (field 22 of /proc/PID/stat,
# so a reused pid does not count) and not a zombie (done, orphaned, not yet reaped by its new parent).
_PROBE_SCRIPT = r"""
path=$1 dir=$2 key=$3
umask 077
if [ -z "$dir" ]; then
  x=${XDG_RUNTIME_DIR:-}
  if [ -n "$x" ] && [ -d "$x" ] && [ ! -L "$x" ] && [ -O "$x" ]; then dir=$x/opsconsole-mounts
  elif [ -n "${HOME:-}" ] && [ -d "$HOME" ]; then
    mkdir -p -- "$HOME/.cache" 2>/dev/null; dir=$HOME/.cache/opsconsole-mounts
  else echo "state-error no XDG_RUNTIME_DIR or HOME to keep probe state in"; exit 0
  fi
fi
mkdir -- "$dir" 2>/dev/null
if [ -L "$dir" ]; then echo "state-error $dir is a symbolic link"; exit 0; fi
if [ ! -d "$dir" ]; then echo "state-error $dir is not a directory we can create"; exit 0; fi
if [ ! -O "$dir" ]; then echo "state-error $dir is owned by another user"; exit 0; fi
case $(ls -ld -- "$dir" 2>/dev/null) in
  d???------" "*|d???------.\ *) ;;
  *) echo "state-error $dir is open to other users (want mode 0700)"; exit 0 ;;
esac
f=$dir/$key
if { read -r pid start since < "$f.pid" && read -r st < "/proc/$pid/stat"; } 2>/dev/null; then
  set -- ${st##*)}
  case $1 in Z|X) ;; *) [ "${20}" = "$start" ] && { echo "stuck $pid $1 $since $(date +%s)"; exit 0; } ;; esac
fi
t0=$(date +%s%N)
setsid stat -f -- "$path" </dev/null >/dev/null 2>"$f.err" &
pid=$!
read -r st < "/proc/$pid/stat"
set -- ${st##*)}
echo "$pid ${20} $(date +%s)" > "$f.pid"
wait "$pid"; rc=$?
t1=$(date +%s%N)
rm -f -- "$f.pid"
echo "done $rc $t0 $t1"
head -c 300 -- "$f.err" 2>/dev/null
rm -f -- "$f.err"
"""

# statfs errors that make a mount unusable, not merely unreadable by the monitoring user.
_FATAL_ERRORS = ("stale file handle", "transport endpoint is not connected", "input/output error")


MAX_NOTED = 5


@dataclass(frozen=True, slots=True)
class ProbeOutcome:
    """One responsiveness probe's result."""

    responsive: Responsive | None
    latency_s: float | None = None
    detail: str | None = None
    fatal: bool = False


def _now() -> datetime:
    return datetime.now(UTC)


def _norm_path(path: str) -> str:
    """A path as the cleaned mount table spells it (console/text.py), normalised: `/mnt//a/` is `/mnt/a`."""
    path = clean_line(path, limit=PATH_LIMIT)
    return os.path.normpath(path) if path else path


def _norm_source(source: str) -> str:
    """`atlas:/export/models/` and `atlas:/export/models` are the same export."""
    parts = split_nfs_source(source)
    if parts is None:
        return source.rstrip("/") or source
    host, path = parts
    return f"{host}:{os.path.normpath(path)}"


def _covered(mount_point: str, specs: Sequence[MountSpec]) -> bool:
    """A listed mount, or one below it (an NFSv4 server's submounts show up as mounts of their own)."""
    for spec in specs:
        path = _norm_path(spec.path)
        if mount_point == path or mount_point.startswith(path.rstrip("/") + "/"):
            return True
    return False


def _fstype_matches(want: str, have: str) -> bool:
    # `mount -t nfs -o vers=4.2` shows up as nfs4: an inventory saying nfs accepts either.
    return have == want or (want == "nfs" and have == "nfs4")


def spec_server_host(spec: MountSpec) -> str | None:
    """The NFS server an inventory mount names (host of `host:/path`), when it is an NFS mount."""
    if spec.fstype is not None and not is_nfs_fstype(spec.fstype):
        return None
    return nfs_server_host(spec.source)


def _state_key(path: str) -> str:
    return "m-" + hashlib.sha256(path.encode("utf-8", "surrogateescape")).hexdigest()[:16]


def probe_command(path: str, *, timeout: float, state_dir: str | None = None) -> str:
    """The shell command that probes one mount; the remote `timeout` ends the waiting shell 1 s after ours."""
    remote_limit = math.ceil(timeout) + 1  # whole seconds: busybox's timeout takes no fractions
    return " ".join(
        [
            f"LC_ALL=C timeout -s KILL {remote_limit} sh -c",
            shlex.quote(_PROBE_SCRIPT),
            "opsconsole-mount-probe",
            shlex.quote(path),
            shlex.quote(state_dir or ""),
            _state_key(path),
        ]
    )


def _count(word: str) -> int | None:
    """A plain decimal count from the node (seconds, nanoseconds), or None.

    Not `str.isdigit()`: `²` passes it and int() refuses it, and so does a 5,000-digit number
    (Python's int-string limit); either would have raised out of the whole node's collection.
    """
    return int(word) if re.fullmatch("[0-9]{1,19}", word) else None


def parse_probe_output(stdout: str, timeout: float) -> ProbeOutcome:
    """What the remote probe printed: ok with the statfs latency, hung (an earlier probe stuck), or error."""
    lines = stdout.split("\n")
    words = lines[0].split() if lines else []
    if words[:1] == ["stuck"] and len(words) >= 5:
        pid, state = clean_line(words[1], limit=20), clean_line(words[2], limit=20)
        since, now = _count(words[3]), _count(words[4])
        age = f" for {now - since}s" if since is not None and now is not None else ""
        return ProbeOutcome(
            "hung", detail=f"a probe from an earlier poll (pid {pid}, state {state}) blocked{age}"
        )
    if words[:1] == ["done"] and len(words) >= 4:
        rc, t0, t1 = words[1], _count(words[2]), _count(words[3])
        latency = (t1 - t0) / 1e9 if t0 is not None and t1 is not None and t1 >= t0 else None
        if rc == "0":
            return ProbeOutcome("ok", latency_s=latency)
        message = clean_line(" ".join(" ".join(lines[1:]).split()), limit=300)
        message = message or f"stat -f exited {clean_line(rc, limit=20)}"
        if latency is not None and latency > timeout:  # answered, but only after our deadline
            message += f" (after {latency:.1f}s)"
        return ProbeOutcome("error", latency, message, any(err in message.lower() for err in _FATAL_ERRORS))
    if words[:1] == ["state-error"]:
        why = clean_line(lines[0].split(None, 1)[1] if len(words) > 1 else "", limit=300)
        return ProbeOutcome(None, detail=f"probe state directory unusable: {why}")
    return ProbeOutcome(
        None, detail=f"unexpected probe output: {clean_line(stdout.strip(), limit=200) or '(none)'}"
    )


async def _probe_mount(transport: Transport, spec: MountSpec, state_dir: str | None) -> ProbeOutcome:
    command = probe_command(spec.path, timeout=spec.timeout, state_dir=state_dir)
    started = time.monotonic()
    try:
        result = await transport.run(command, timeout=spec.timeout)
    except CommandTimeout:
        return ProbeOutcome("hung", detail=f"no answer to statfs within {spec.timeout:g}s")
    except TransportError as exc:
        return ProbeOutcome(None, detail=f"probe could not run: {exc}")
    probe = parse_probe_output(result.stdout, spec.timeout)
    if probe.responsive is None and result.exit_status != 0:
        output = clean_line(" ".join((result.stderr or result.stdout)[:4096].split()), limit=200)
        return ProbeOutcome(None, detail=f"probe exited {result.exit_status}: {output or 'no output'}")
    if probe.responsive == "ok" and probe.latency_s is None:  # no %N in date: our round trip, an upper bound
        return ProbeOutcome("ok", latency_s=time.monotonic() - started)
    return probe


def _status(
    spec: MountSpec, entry: MountEntry | None, probe: ProbeOutcome | None, server: ServerStatus | None
) -> MountStatus:
    status = MountStatus(
        spec,
        server=server.state if server else None,
        server_detail=server.detail if server else None,
    )
    if entry is None:
        return status
    status = replace(
        status,
        entry=entry,
        source_ok=None if spec.source is None else _norm_source(spec.source) == _norm_source(entry.source),
        fstype_ok=None if spec.fstype is None else _fstype_matches(spec.fstype, entry.fstype),
        mode=entry.mode,
        mode_ok=None if spec.mode is None or entry.mode is None else spec.mode == entry.mode,
    )
    if probe is None:
        return status
    return replace(
        status,
        responsive=probe.responsive,
        latency_s=probe.latency_s,
        probe_detail=probe.detail,
        fatal=probe.fatal,
    )


# rpcinfo and showmount where installed, for detail only: NFSv4-only servers run neither rpcbind nor mountd.
_RPC_SCRIPT = r"""
PATH=$PATH:/usr/sbin:/sbin; export PATH
if command -v rpcinfo >/dev/null 2>&1; then
  timeout {limit} rpcinfo -T tcp {host} nfs 2>&1; echo "@@rpcinfo $?"
fi
if command -v showmount >/dev/null 2>&1; then
  timeout {limit} showmount -e --no-headers {host} 2>&1; echo "@@showmount $?"
fi
"""


def _sections(stdout: str) -> dict[str, tuple[str, list[str]]]:
    """`@@tool RC` closes each tool's output: tool → (exit status, lines)."""
    sections: dict[str, tuple[str, list[str]]] = {}
    lines: list[str] = []
    for line in stdout.split("\n")[:1000]:
        if line.startswith("@@") and len(line.split()) == 2:
            tool, rc = line[2:].split()
            sections[tool] = (rc, lines)
            lines = []
        elif line.strip():
            lines.append(clean_line(line.strip(), limit=200))
    return sections


def parse_rpc_detail(stdout: str) -> str | None:
    """A short line from what rpcinfo and showmount printed: NFS versions registered, exports."""
    sections = _sections(stdout)
    parts: list[str] = []
    if "rpcinfo" in sections:
        rc, lines = sections["rpcinfo"]
        versions = sorted(
            {
                word
                for line in lines
                if line.startswith("program 100003 version")
                for word in line.split()[3:4]
            }
        )
        if rc == "0" and versions:
            parts.append("rpcinfo: NFS v" + ", v".join(versions))
        else:
            parts.append(f"rpcinfo: {(lines[-1] if lines else 'exit ' + rc)[:120]}")
    if "showmount" in sections:
        rc, lines = sections["showmount"]
        if rc == "0":
            exports = [line.split()[0] for line in lines]
            parts.append(
                "exports: " + (", ".join(exports[:5]) + (" …" if len(exports) > 5 else "") or "none")
            )
    return "; ".join(parts) or None


def _describe(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)  # asyncssh.ChannelOpenError: what the node's connect() said
    text = str(reason or exc or type(exc).__name__)
    return clean_line(" ".join(text.split()), limit=200) or type(exc).__name__


async def _probe_server(transport: Transport, host: str, timeout: float) -> ServerStatus:
    started = time.monotonic()
    try:
        _, writer = await asyncio.wait_for(transport.open_tcp(host, NFS_PORT), timeout=timeout)
    except TimeoutError:
        return ServerStatus(host, "unreachable", f"no answer on port {NFS_PORT} within {timeout:g}s")
    except TransportError as exc:  # the node itself: we learn nothing about the server
        return ServerStatus(host, None, f"not checked: {exc}")
    except Exception as exc:  # refused, no route, unknown host: as the node sees it
        return ServerStatus(host, "unreachable", f"port {NFS_PORT}: {_describe(exc)}")
    connect_s = time.monotonic() - started
    writer.close()
    detail = f"port {NFS_PORT} open ({connect_s * 1000:.0f} ms)"
    script = _RPC_SCRIPT.format(limit=RPC_TOOL_TIMEOUT_S, host=shlex.quote(host))
    try:
        result = await transport.run(f"LC_ALL=C sh -c {shlex.quote(script)}", timeout=timeout)
    except TransportError:  # CommandTimeout too: the verdict stands, the detail is missing
        pass
    else:
        try:
            extra = parse_rpc_detail(result.stdout)
        except Exception:  # an odd answer costs the detail only, never the server's verdict
            extra = None
        if extra:
            detail += "; " + extra
    return ServerStatus(host, "reachable", detail, connect_s)


async def collect_mounts(
    transport: Transport,
    specs: Sequence[MountSpec],
    *,
    state_dir: str | None = None,
    timeout: float | None = None,
) -> MountsSnapshot:
    """Read the mount table, then probe every present mount and every NFS server, concurrently.

    `timeout` bounds the mount-table read; each probe is bounded by its MountSpec.timeout. `state_dir` is
    where the node keeps the pids of probes (default `$XDG_RUNTIME_DIR/opsconsole-mounts`, else
    `~/.cache/opsconsole-mounts`: created 0700 and checked to be the user's before each use).
    Never raises for node trouble: the reason is in `error`.
    """
    node = transport.node_name
    started = time.monotonic()
    try:
        result = await transport.run(MOUNTINFO_COMMAND, timeout=timeout)
    except TransportError as exc:  # CommandTimeout too
        return MountsSnapshot(node, _now(), error=clean_line(exc))
    if not result.ok:
        message = clean_line(" ".join((result.stderr or result.stdout)[:4096].split()), limit=300)
        return MountsSnapshot(node, _now(), error=f"cannot read /proc/self/mountinfo: {message}")
    table = read_mountinfo(result.stdout)
    if not table.entries:
        why = table.unreadable[0].reason if table.unreadable else "no mounts in it"
        return MountsSnapshot(node, _now(), error=f"unreadable /proc/self/mountinfo: {why}")
    # A line that could not be read hides what is mounted at its mount point, and nothing else.
    garbled = {_norm_path(line.mount_point): line.reason for line in table.unreadable if line.mount_point}

    mounted = visible_mounts(table.entries)
    found = {spec: mounted.get(_norm_path(spec.path)) for spec in specs}
    limit = asyncio.Semaphore(MAX_PARALLEL_PROBES)

    async def probe(spec: MountSpec) -> ProbeOutcome | None:
        if found[spec] is None:
            return None  # statfs of the empty directory underneath says nothing about the mount
        async with limit:
            try:
                return await _probe_mount(transport, spec, state_dir)
            except Exception as exc:  # one probe's bad answer is that mount's trouble, not the node's
                why = clean_line(str(exc), limit=200)
                return ProbeOutcome(None, detail=f"probe answer unreadable: {type(exc).__name__}: {why}")

    hosts: dict[str, float] = {}
    for spec in specs:
        host = spec_server_host(spec)
        if host is not None:
            hosts[host] = max(hosts.get(host, 0.0), spec.timeout)
    probes, servers = await asyncio.gather(
        asyncio.gather(*(probe(spec) for spec in specs)),
        asyncio.gather(*(_probe_server(transport, host, limit_s) for host, limit_s in hosts.items())),
    )
    by_host = {server.host: server for server in servers}
    statuses = tuple(
        replace(status, unreadable=garbled.get(_norm_path(spec.path))) if found[spec] is None else status
        for spec, result in zip(specs, probes, strict=True)
        for status in (_status(spec, found[spec], result, by_host.get(spec_server_host(spec) or "")),)
    )
    extra = tuple(
        entry
        for entry in mounted.values()
        if is_network_fstype(entry.fstype) and not _covered(entry.mount_point, specs)
    )
    return MountsSnapshot(
        node,
        _now(),
        mounts=statuses,
        extra_network_mounts=extra,
        servers=tuple(servers),
        duration_s=time.monotonic() - started,
        unreadable_lines=tuple(line.reason for line in table.unreadable[:MAX_NOTED]),
        unreadable_count=len(table.unreadable),
        truncated=table.truncated,
    )
