"""Rules for a node's mounts (`Node.mounts`) and their NFS servers. Pure functions, no I/O.

Check ids (target: the mount path as the inventory writes it, or the server host for nfs.server):
- `nfs.mounted`: nothing mounted at the path → critical; mounted, but from another source or as another
  filesystem type than the inventory says → warning; otherwise ok. Network mounts (NFS, SMB, sshfs, ...) that
  the inventory does not list also get an ok `nfs.mounted`, "not in inventory": informational, so that a
  forgotten or hand-made mount shows up in the report without paging anyone (it is not probed).
- `nfs.mode` (only where the inventory sets `mode`): inventory ro but mounted rw → critical ("authoritative
  dataset mounted rw"); inventory rw but mounted ro → warning; not mounted → skipped.
- `nfs.responsive`: statfs answered → ok, latency in perfdata; no answer within the mount's `timeout`, or a
  probe from an earlier poll still blocked → critical ("hung: ..."); statfs failed with an error that makes
  the mount unusable (stale file handle, transport endpoint not connected, I/O error) → critical; any other
  error (permission denied for the monitoring user, say) → warning; not mounted → skipped (nfs.mounted is
  the one critical); not probed → unknown.
- `nfs.server` (one per server host named by an NFS source in the inventory): the node cannot open TCP port
  2049 on it → critical; it can → ok, with what rpcinfo / showmount said where they are installed.
"""

from __future__ import annotations

from console.checks.model import CheckResult, Perf, Status
from console.collectors.mountinfo import MountEntry
from console.collectors.mounts import MountsSnapshot, MountStatus, ServerStatus, spec_server_host
from console.inventory.model import MountSpec, Node

MOUNTED = "nfs.mounted"
MODE = "nfs.mode"
RESPONSIVE = "nfs.responsive"
SERVER = "nfs.server"
# nfs.mode and nfs.responsive of a path that is not mounted: skipped, the cause is nfs.mounted's critical.
NOT_MOUNTED = "not mounted (see nfs.mounted)"
NOT_READ = "mount table line unreadable (see nfs.mounted)"


def _absent(status: MountStatus) -> str:
    return NOT_READ if status.unreadable is not None else NOT_MOUNTED


def _server_hosts(node: Node) -> list[str]:
    hosts: list[str] = []
    for spec in node.mounts:
        host = spec_server_host(spec)
        if host is not None and host not in hosts:
            hosts.append(host)
    return hosts


def planned_mounts(node: Node) -> tuple[tuple[str, str | None], ...]:
    """(check id, target) for every mount check the node gets: per mount, then per NFS server."""
    planned: list[tuple[str, str | None]] = []
    for spec in node.mounts:
        planned.append((MOUNTED, spec.path))
        if spec.mode is not None:
            planned.append((MODE, spec.path))
        planned.append((RESPONSIVE, spec.path))
    planned += [(SERVER, host) for host in _server_hosts(node)]
    return tuple(planned)


def _unknown(node: Node, summary: str) -> tuple[CheckResult, ...]:
    return tuple(
        CheckResult(node.name, check, Status.UNKNOWN, summary, target=target)
        for check, target in planned_mounts(node)
    )


def evaluate_mounts(node: Node, snapshot: MountsSnapshot | None) -> tuple[CheckResult, ...]:
    """Results for every planned mount check, then an informational one per unlisted network mount."""
    if snapshot is None:
        return _unknown(node, "no mount data")
    if snapshot.error is not None:
        return _unknown(node, f"mount table not read: {snapshot.error}")
    statuses = {status.spec: status for status in snapshot.mounts}
    servers = {server.host: server for server in snapshot.servers}
    results: list[CheckResult] = []
    for check, target in planned_mounts(node):
        if check == SERVER:
            results.append(_server(node, target or "", servers.get(target or "")))
            continue
        spec = next(spec for spec in node.mounts if spec.path == target)
        status = statuses.get(spec)
        if status is None:
            results.append(CheckResult(node.name, check, Status.UNKNOWN, "not collected", target=spec.path))
        elif check == MOUNTED:
            results.append(_mounted(node, spec, status))
        elif check == MODE:
            results.append(_mode(node, spec, status))
        else:
            results.append(_responsive(node, spec, status))
    results += [_unlisted(node, entry) for entry in snapshot.extra_network_mounts]
    return tuple(results)


def _describe(entry: MountEntry) -> str:
    return f"{entry.fstype} {entry.source} ({entry.mode or 'mode unknown'})"


def _mounted(node: Node, spec: MountSpec, status: MountStatus) -> CheckResult:
    def result(state: Status, summary: str, fix: str | None = None) -> CheckResult:
        return CheckResult(node.name, MOUNTED, state, summary, target=spec.path, fix=fix)

    entry = status.entry
    if entry is None and status.unreadable is not None:
        # The table has a line for this path that could not be parsed: absent is not known, so not critical.
        return result(Status.UNKNOWN, f"mount table line for this path unreadable: {status.unreadable}")
    if entry is None:
        expected = f" (inventory: {spec.source})" if spec.source else ""
        return result(Status.CRITICAL, f"not mounted{expected}", fix=f"mount {spec.path}")
    wrong: list[str] = []
    if status.source_ok is False:
        wrong.append(f"source {entry.source}, inventory says {spec.source}")
    if status.fstype_ok is False:
        wrong.append(f"type {entry.fstype}, inventory says {spec.fstype}")
    if wrong:
        return result(Status.WARNING, "mounted, but " + "; ".join(wrong))
    return result(Status.OK, _describe(entry))


def _mode(node: Node, spec: MountSpec, status: MountStatus) -> CheckResult:
    def result(state: Status, summary: str, fix: str | None = None) -> CheckResult:
        return CheckResult(node.name, MODE, state, summary, target=spec.path, fix=fix)

    if status.entry is None:
        return result(Status.SKIPPED, _absent(status))
    if status.mode is None:
        return result(Status.UNKNOWN, "mount options name neither ro nor rw")
    if status.mode == spec.mode:
        return result(Status.OK, f"mounted {status.mode}, as the inventory says")
    if spec.mode == "ro":
        return result(
            Status.CRITICAL,
            "authoritative dataset mounted rw (inventory: ro)",
            fix=f"mount -o remount,ro {spec.path}",
        )
    return result(Status.WARNING, "mounted ro, inventory expects rw", fix=f"mount -o remount,rw {spec.path}")


def _responsive(node: Node, spec: MountSpec, status: MountStatus) -> CheckResult:
    def result(state: Status, summary: str, perfdata: tuple[Perf, ...] = ()) -> CheckResult:
        return CheckResult(node.name, RESPONSIVE, state, summary, target=spec.path, perfdata=perfdata)

    if status.entry is None:
        return result(Status.SKIPPED, _absent(status))
    detail = status.probe_detail
    if status.responsive == "ok":
        latency = status.latency_s or 0.0
        perf = (Perf("latency", round(latency, 6), "s", crit=spec.timeout),)
        return result(Status.OK, f"statfs answered in {latency * 1000:.0f} ms", perf)
    if status.responsive == "hung":
        summary = f"hung: no answer to statfs within {spec.timeout:g}s"
        if detail and "earlier poll" in detail:
            summary += f"; {detail}"
        return result(Status.CRITICAL, summary)
    if status.responsive == "error":
        return result(Status.CRITICAL if status.fatal else Status.WARNING, f"statfs failed: {detail}")
    return result(Status.UNKNOWN, f"not probed: {detail or 'no result'}")


def _server(node: Node, host: str, server: ServerStatus | None) -> CheckResult:
    def result(state: Status, summary: str, perfdata: tuple[Perf, ...] = ()) -> CheckResult:
        return CheckResult(node.name, SERVER, state, summary, target=host, perfdata=perfdata)

    if server is None or server.state is None:
        return result(Status.UNKNOWN, f"not checked: {server.detail if server else 'no result'}")
    if server.state == "unreachable":
        return result(Status.CRITICAL, f"NFS server unreachable from {node.name}: {server.detail}")
    perf = (Perf("connect", round(server.connect_s, 6), "s"),) if server.connect_s is not None else ()
    return result(Status.OK, server.detail or "reachable", perf)


def _unlisted(node: Node, entry: MountEntry) -> CheckResult:
    summary = f"not in inventory: {_describe(entry)}"
    return CheckResult(node.name, MOUNTED, Status.OK, summary, target=entry.mount_point)
