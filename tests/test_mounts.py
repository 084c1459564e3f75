"""The mount collector against a real sshd node with real FUSE mounts and a real NFS server; the nfs.* rules.

The node (`mount_lab`) runs in a mount namespace of its own with FUSE mounts that show up as
`fuse.nfs4 127.0.0.1:/export/...`; `frozen_mount` is one whose daemon is SIGSTOPped (a hung hard mount);
`nfs_server` is nfs-ganesha on 127.0.0.1:2049. Nothing here is mocked.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import stat
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from console.checks.model import CheckResult, Status
from console.checks.mount_rules import evaluate_mounts, planned_mounts
from console.collectors.mountinfo import parse_mountinfo_line
from console.collectors.mounts import MountsSnapshot, MountStatus, ServerStatus, collect_mounts
from console.inventory.model import MountSpec, Node
from console.transport.local import LocalTransport
from console.transport.ssh import SSHTransport
from tests.lab.fusefs import FuseMount
from tests.lab.models import lab_node_model
from tests.lab.nfs import NfsServer
from tests.lab.nfs_fixtures import MountLab, probe_processes, stat_probes
from tests.lab.sshd import LAB_USER, LabNode, SshLab

MARGIN_S = 1.5  # connection set-up, mountinfo and scheduling on a busy 2-core machine: never a hang's worth


def by_check(results: Sequence[CheckResult]) -> dict[tuple[str, str | None], CheckResult]:
    return {(result.check, result.target): result for result in results}


async def eventually(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


async def poll(
    lab: SshLab, node: LabNode, specs: Sequence[MountSpec], state_dir: str | None
) -> tuple[Node, MountsSnapshot]:
    model = lab_node_model(lab, node, mounts=tuple(specs))
    transport = SSHTransport(model)
    try:
        return model, await collect_mounts(transport, model.mounts, state_dir=state_dir)
    finally:
        await transport.close()


def lab_specs(lab: MountLab, **overrides: MountSpec) -> dict[str, MountSpec]:
    specs = {
        "models": MountSpec(lab.models.mountpoint, "127.0.0.1:/export/models", "ro", "fuse.nfs4", timeout=3),
        "scratch": MountSpec(lab.scratch.mountpoint, "127.0.0.1:/export/scratch space", "rw", "fuse.nfs4"),
    }
    return specs | overrides


async def test_mounts_as_the_inventory_says_are_ok(
    ssh_lab: SshLab, mount_lab: MountLab, nfs_server: NfsServer, probe_state_dir: str
) -> None:
    specs = lab_specs(mount_lab)
    model, snapshot = await poll(ssh_lab, mount_lab.node, list(specs.values()), probe_state_dir)
    assert snapshot.error is None
    models, scratch = snapshot.mounts
    assert models.entry is not None
    assert scratch.entry is not None
    assert (models.entry.fstype, models.entry.source) == ("fuse.nfs4", "127.0.0.1:/export/models")
    assert scratch.entry.source == "127.0.0.1:/export/scratch space"  # unescaped from \040
    assert (models.mode, scratch.mode) == ("ro", "rw")
    for status in (models, scratch):
        assert (status.source_ok, status.fstype_ok, status.mode_ok) == (True, True, True)
        assert status.responsive == "ok", status.probe_detail
        assert status.latency_s is not None
        assert 0 < status.latency_s < status.spec.timeout
        assert status.server == "reachable"
    assert snapshot.extra_network_mounts == ()
    results = evaluate_mounts(model, snapshot)
    assert [(result.check, result.target) for result in results] == list(planned_mounts(model))
    assert {result.status for result in results} == {Status.OK}, results
    responsive = by_check(results)[("nfs.responsive", mount_lab.models.mountpoint)]
    assert [perf.label for perf in responsive.perfdata] == ["latency"]


async def test_absent_mounts_and_mismatches(
    ssh_lab: SshLab, mount_lab: MountLab, probe_state_dir: str
) -> None:
    missing = mount_lab.path("missing")
    specs = lab_specs(
        mount_lab,
        models=MountSpec(mount_lab.models.mountpoint, "127.0.0.1:/export/datasets", "rw", "nfs4"),
        scratch=MountSpec(mount_lab.scratch.mountpoint, mode="ro"),
        missing=MountSpec(missing, "127.0.0.1:/export/missing", "ro"),
    )
    model, snapshot = await poll(ssh_lab, mount_lab.node, list(specs.values()), probe_state_dir)
    models, scratch, absent = snapshot.mounts
    assert (models.source_ok, models.fstype_ok, models.mode_ok) == (False, False, False)
    assert (scratch.source_ok, scratch.fstype_ok, scratch.mode_ok) == (None, None, False)
    assert (absent.entry, absent.responsive, absent.mode) == (None, None, None)
    results = by_check(evaluate_mounts(model, snapshot))
    assert results[("nfs.mounted", missing)].status == Status.CRITICAL
    assert results[("nfs.mounted", missing)].summary == "not mounted (inventory: 127.0.0.1:/export/missing)"
    mismatch = results[("nfs.mounted", mount_lab.models.mountpoint)]
    assert mismatch.status == Status.WARNING
    assert "source 127.0.0.1:/export/models, inventory says 127.0.0.1:/export/datasets" in mismatch.summary
    assert "type fuse.nfs4, inventory says nfs4" in mismatch.summary
    assert results[("nfs.mode", mount_lab.models.mountpoint)].status == Status.WARNING
    rw = results[("nfs.mode", mount_lab.scratch.mountpoint)]
    assert (rw.status, rw.summary) == (Status.CRITICAL, "authoritative dataset mounted rw (inventory: ro)")
    assert results[("nfs.responsive", missing)].status == Status.SKIPPED  # nfs.mounted is the critical
    assert results[("nfs.responsive", mount_lab.models.mountpoint)].status == Status.OK


async def test_unlisted_network_mounts_and_a_private_namespace(
    ssh_lab: SshLab, mount_lab: MountLab, plain_node: LabNode, probe_state_dir: str
) -> None:
    spec = lab_specs(mount_lab)["models"]
    model, snapshot = await poll(ssh_lab, mount_lab.node, [spec], probe_state_dir)
    assert [entry.mount_point for entry in snapshot.extra_network_mounts] == [mount_lab.scratch.mountpoint]
    unlisted = by_check(evaluate_mounts(model, snapshot))[("nfs.mounted", mount_lab.scratch.mountpoint)]
    assert (unlisted.status, unlisted.summary) == (
        Status.OK,
        "not in inventory: fuse.nfs4 127.0.0.1:/export/scratch space (rw)",
    )
    # Another node (the host's namespace) sees none of it.
    _, elsewhere = await poll(ssh_lab, plain_node, [spec], None)
    assert elsewhere.error is None
    assert elsewhere.mounts[0].entry is None
    assert elsewhere.extra_network_mounts == ()


async def test_a_frozen_mount_is_hung_by_its_deadline_while_the_rest_answers(
    ssh_lab: SshLab, mount_lab: MountLab, frozen_mount: FuseMount, plain_node: LabNode, probe_state_dir: str
) -> None:
    deadline = 1.0
    specs = [
        MountSpec(frozen_mount.mountpoint, "127.0.0.1:/export/frozen", "ro", timeout=deadline),
        *lab_specs(mount_lab).values(),
    ]
    hung_model = lab_node_model(ssh_lab, mount_lab.node, mounts=tuple(specs))
    other_model = lab_node_model(ssh_lab, plain_node, mounts=(MountSpec("/", timeout=deadline),))
    transports = [SSHTransport(hung_model), SSHTransport(other_model)]
    finished: dict[str, float] = {}
    try:
        for transport in transports:
            await transport.connect()
        started = time.monotonic()

        async def timed(name: str, collect: Awaitable[MountsSnapshot]) -> MountsSnapshot:
            snapshot = await collect
            finished[name] = time.monotonic() - started
            return snapshot

        hung, other = await asyncio.gather(
            timed("hung", collect_mounts(transports[0], hung_model.mounts, state_dir=probe_state_dir)),
            timed("other", collect_mounts(transports[1], other_model.mounts, state_dir=probe_state_dir)),
        )
    finally:
        for transport in transports:
            await transport.close()
    frozen, models, scratch = hung.mounts
    assert (frozen.responsive, frozen.probe_detail) == ("hung", "no answer to statfs within 1s")
    assert frozen.latency_s is None
    assert (models.responsive, scratch.responsive, other.mounts[0].responsive) == ("ok", "ok", "ok")
    # The bound: a hung mount costs its deadline, not more; it holds up neither its siblings nor other nodes.
    assert deadline <= finished["hung"] < deadline + MARGIN_S
    assert finished["other"] < finished["hung"]
    result = by_check(evaluate_mounts(hung_model, hung))[("nfs.responsive", frozen_mount.mountpoint)]
    assert (result.status, result.summary) == (Status.CRITICAL, "hung: no answer to statfs within 1s")
    assert len(stat_probes(frozen_mount.mountpoint)) == 1  # the one blocked statfs, left behind


async def test_a_stuck_probe_is_not_started_again_and_a_thawed_mount_recovers(
    ssh_lab: SshLab, mount_lab: MountLab, frozen_mount: FuseMount, probe_state_dir: str
) -> None:
    path = frozen_mount.mountpoint
    model = lab_node_model(ssh_lab, mount_lab.node, mounts=(MountSpec(path, timeout=1.0),))
    transport = SSHTransport(model)
    try:
        first = await collect_mounts(transport, model.mounts, state_dir=probe_state_dir)
        assert first.mounts[0].responsive == "hung"
        stuck = stat_probes(path)
        assert len(stuck) == 1
        # The waiting shell ends by itself (remote timeout); the blocked stat stays, the only process left.
        assert await eventually(lambda: probe_processes(path) == stuck), probe_processes(path)

        second = await collect_mounts(transport, model.mounts, state_dir=probe_state_dir)
        status = second.mounts[0]
        assert status.responsive == "hung"
        assert status.probe_detail is not None
        assert status.probe_detail.startswith(f"a probe from an earlier poll (pid {stuck[0]}, state ")
        summary = by_check(evaluate_mounts(model, second))[("nfs.responsive", path)].summary
        assert summary.startswith("hung: no answer to statfs within 1s; a probe from an earlier poll")
        assert await eventually(lambda: probe_processes(path) == stuck), probe_processes(path)

        frozen_mount.thaw()  # the queued statfs is answered, the stuck probe ends
        assert await eventually(lambda: not probe_processes(path)), probe_processes(path)
        third = await collect_mounts(transport, model.mounts, state_dir=probe_state_dir)
        assert third.mounts[0].responsive == "ok", third.mounts[0].probe_detail
    finally:
        await transport.close()


async def test_a_dead_fuse_daemon_is_an_unusable_mount_not_a_hang(
    ssh_lab: SshLab, mount_lab: MountLab, probe_state_dir: str
) -> None:
    mount = mount_lab.mount("dead", fsname="127.0.0.1:/export/dead", read_only=True)
    try:
        mount.process.kill()  # the mount stays; the kernel answers ENOTCONN, like sshfs after its ssh died
        mount.process.wait(timeout=5)
        model, snapshot = await poll(ssh_lab, mount_lab.node, [MountSpec(mount.mountpoint)], probe_state_dir)
        status = snapshot.mounts[0]
        assert (status.responsive, status.fatal) == ("error", True)
        assert "Transport endpoint is not connected" in (status.probe_detail or "")
        result = by_check(evaluate_mounts(model, snapshot))[("nfs.responsive", mount.mountpoint)]
        assert result.status == Status.CRITICAL
        assert result.summary.startswith("statfs failed: stat: cannot read file system information for")
    finally:
        mount_lab.release(mount)


async def test_nfs_server_reachable_then_unreachable(
    ssh_lab: SshLab, mount_lab: MountLab, nfs_server: NfsServer, probe_state_dir: str
) -> None:
    spec = MountSpec(mount_lab.models.mountpoint, nfs_server.source, "ro", timeout=3)
    model, up = await poll(ssh_lab, mount_lab.node, [spec], probe_state_dir)
    assert [server.host for server in up.servers] == ["127.0.0.1"]
    assert up.servers[0].state == "reachable"
    assert up.mounts[0].server == "reachable"
    detail = up.servers[0].detail or ""
    assert detail.startswith("port 2049 open (")
    assert "rpcinfo: NFS v3, v4" in detail
    assert f"exports: {nfs_server.export_dir}" in detail
    ok = by_check(evaluate_mounts(model, up))[("nfs.server", "127.0.0.1")]
    assert (ok.status, ok.summary) == (Status.OK, detail)

    nfs_server.stop()
    try:
        started = time.monotonic()
        model, down = await poll(ssh_lab, mount_lab.node, [spec], probe_state_dir)
        assert time.monotonic() - started < spec.timeout + MARGIN_S
    finally:
        nfs_server.start()
    assert (down.servers[0].state, down.mounts[0].server) == ("unreachable", "unreachable")
    assert "refused" in (down.servers[0].detail or "").lower()
    failed = by_check(evaluate_mounts(model, down))[("nfs.server", "127.0.0.1")]
    assert failed.status == Status.CRITICAL
    assert failed.summary.startswith("NFS server unreachable from nfs1: port 2049: ")


async def test_probe_state_dir_defaults_per_user_and_must_be_the_users(
    ssh_lab: SshLab, plain_node: LabNode, mount_lab: MountLab
) -> None:
    user = pwd.getpwnam(LAB_USER)
    default = f"{user.pw_dir}/.cache/opsconsole-mounts"  # the lab's sessions have no XDG_RUNTIME_DIR
    # Abandoned probes of other tests (a frozen mount's) may leave files here: compare, don't assume empty.
    before = set(os.listdir(default)) if os.path.isdir(default) else set()  # noqa: ASYNC240
    _, snapshot = await poll(ssh_lab, plain_node, [MountSpec("/")], None)
    assert snapshot.mounts[0].responsive == "ok", snapshot.mounts[0].probe_detail
    info = os.lstat(default)
    assert (info.st_uid, stat.S_IMODE(info.st_mode), stat.S_ISDIR(info.st_mode)) == (user.pw_uid, 0o700, True)
    assert set(os.listdir(default)) - before == set()  # nothing left after an answered probe
    # A directory the user does not own (here root's) is refused: the probe does not run, no verdict.
    model, refused = await poll(ssh_lab, plain_node, [MountSpec("/")], str(mount_lab.base))
    status = refused.mounts[0]
    assert status.responsive is None
    assert status.probe_detail == f"probe state directory unusable: {mount_lab.base} is owned by another user"
    assert by_check(evaluate_mounts(model, refused))[("nfs.responsive", "/")].status == Status.UNKNOWN


async def test_an_unreachable_node_is_an_error_in_the_snapshot(ssh_lab: SshLab, mount_lab: MountLab) -> None:
    spec = lab_specs(mount_lab)["models"]
    model = lab_node_model(ssh_lab, mount_lab.node, ssh={"port": ssh_lab.dead_port()}, mounts=(spec,))
    transport = SSHTransport(model)
    try:
        snapshot = await collect_mounts(transport, model.mounts)
    finally:
        await transport.close()
    assert snapshot.error is not None
    assert "refused" in snapshot.error
    assert snapshot.mounts == ()
    results = evaluate_mounts(model, snapshot)
    assert [(result.check, result.status) for result in results] == [
        (check, Status.UNKNOWN) for check, _ in planned_mounts(model)
    ]


# The rules, on constructed snapshots


ATLAS = "36 25 0:32 / /mnt/atlas/models ro,relatime shared:17 - nfs4 atlas:/export/models rw,vers=4.2,hard"
SCRATCH = "37 25 0:33 / /mnt/scratch rw,relatime shared:18 - nfs4 atlas:/export/scratch rw,vers=4.2,hard"
SSHFS = "42 29 0:57 / /home/ops/remote rw,relatime - fuse.sshfs ops@bastion:/data rw,user_id=1000"
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def rules_node(*specs: MountSpec) -> Node:
    return Node("gpu1", "10.60.0.20", mounts=specs)


def snapshot_of(
    *statuses: MountStatus, servers: Sequence[ServerStatus] = (), extra: str = ""
) -> MountsSnapshot:
    extra_entries = (parse_mountinfo_line(extra),) if extra else ()
    return MountsSnapshot("gpu1", NOW, tuple(statuses), extra_entries, tuple(servers))


def test_rules_without_a_snapshot_or_with_an_unread_table_are_unknown() -> None:
    node = rules_node(MountSpec("/mnt/atlas/models", "atlas:/export/models", "ro"), MountSpec("/mnt/x"))
    assert planned_mounts(node) == (
        ("nfs.mounted", "/mnt/atlas/models"),
        ("nfs.mode", "/mnt/atlas/models"),
        ("nfs.responsive", "/mnt/atlas/models"),
        ("nfs.mounted", "/mnt/x"),
        ("nfs.responsive", "/mnt/x"),
        ("nfs.server", "atlas"),
    )
    for snapshot, summary in [
        (None, "no mount data"),
        (MountsSnapshot("gpu1", NOW, error="gpu1: connection refused"), "mount table not read: gpu1: "),
    ]:
        results = evaluate_mounts(node, snapshot)
        assert [(r.check, r.target) for r in results] == list(planned_mounts(node))
        assert all(r.status == Status.UNKNOWN and r.summary.startswith(summary) for r in results)


def test_rule_nfs_mounted() -> None:
    spec = MountSpec("/mnt/atlas/models", "atlas:/export/models/", "ro", "nfs")
    entry = parse_mountinfo_line(ATLAS)
    node = rules_node(spec)
    ok = evaluate_mounts(node, snapshot_of(MountStatus(spec, entry, True, True, "ro", True)))[0]
    assert (ok.check, ok.target, ok.status) == ("nfs.mounted", "/mnt/atlas/models", Status.OK)
    assert ok.summary == "nfs4 atlas:/export/models (ro)"
    absent = evaluate_mounts(node, snapshot_of(MountStatus(spec)))[0]
    assert (absent.status, absent.fix) == (Status.CRITICAL, "mount /mnt/atlas/models")
    wrong = evaluate_mounts(node, snapshot_of(MountStatus(spec, entry, False, True, "ro", True)))[0]
    assert wrong.status == Status.WARNING
    assert wrong.summary == "mounted, but source atlas:/export/models, inventory says atlas:/export/models/"
    wrong_type = evaluate_mounts(node, snapshot_of(MountStatus(spec, entry, True, False, "ro", True)))[0]
    assert wrong_type.status == Status.WARNING
    unlisted = evaluate_mounts(
        node, snapshot_of(MountStatus(spec, entry, True, True, "ro", True), extra=SSHFS)
    )
    assert (unlisted[-1].check, unlisted[-1].target, unlisted[-1].status) == (
        "nfs.mounted",
        "/home/ops/remote",
        Status.OK,
    )
    assert unlisted[-1].summary == "not in inventory: fuse.sshfs ops@bastion:/data (rw)"


def test_rule_nfs_mode() -> None:
    ro_spec, rw_spec = MountSpec("/mnt/atlas/models", mode="ro"), MountSpec("/mnt/scratch", mode="rw")
    node = rules_node(ro_spec, rw_spec, MountSpec("/mnt/nomode"))
    atlas, scratch = parse_mountinfo_line(ATLAS), parse_mountinfo_line(SCRATCH)
    modes = [result.target for result in evaluate_mounts(node, None) if result.check == "nfs.mode"]
    assert modes == ["/mnt/atlas/models", "/mnt/scratch"]  # no mode in the inventory: not planned

    def mode_results(*statuses: MountStatus) -> list[CheckResult]:
        return [r for r in evaluate_mounts(node, snapshot_of(*statuses)) if r.check == "nfs.mode"]

    good = mode_results(MountStatus(ro_spec, atlas, mode="ro"), MountStatus(rw_spec, scratch, mode="rw"))
    assert [r.status for r in good] == [Status.OK, Status.OK]
    bad = mode_results(MountStatus(ro_spec, scratch, mode="rw"), MountStatus(rw_spec, atlas, mode="ro"))
    assert [(r.status, r.summary) for r in bad] == [
        (Status.CRITICAL, "authoritative dataset mounted rw (inventory: ro)"),
        (Status.WARNING, "mounted ro, inventory expects rw"),
    ]
    assert bad[0].fix == "mount -o remount,ro /mnt/atlas/models"
    absent = mode_results(MountStatus(ro_spec), MountStatus(rw_spec))
    assert [(r.status, r.summary) for r in absent] == [(Status.SKIPPED, "not mounted (see nfs.mounted)")] * 2


def test_rule_nfs_responsive() -> None:
    spec = MountSpec("/mnt/atlas/models", timeout=5)
    node = rules_node(spec)
    entry = parse_mountinfo_line(ATLAS)

    def responsive(status: MountStatus) -> CheckResult:
        return evaluate_mounts(node, snapshot_of(status))[1]

    ok = responsive(MountStatus(spec, entry, responsive="ok", latency_s=0.0042))
    assert (ok.check, ok.status, ok.summary) == ("nfs.responsive", Status.OK, "statfs answered in 4 ms")
    assert [(p.label, p.value, p.unit, p.crit) for p in ok.perfdata] == [("latency", 0.0042, "s", 5)]
    hung = responsive(
        MountStatus(spec, entry, responsive="hung", probe_detail="no answer to statfs within 5s")
    )
    assert (hung.status, hung.summary) == (Status.CRITICAL, "hung: no answer to statfs within 5s")
    stuck = "a probe from an earlier poll (pid 4711, state D) blocked for 37s"
    again = responsive(MountStatus(spec, entry, responsive="hung", probe_detail=stuck))
    assert (again.status, again.summary) == (Status.CRITICAL, f"hung: no answer to statfs within 5s; {stuck}")
    stale = responsive(
        MountStatus(spec, entry, responsive="error", probe_detail="Stale file handle", fatal=True)
    )
    assert (stale.status, stale.summary) == (Status.CRITICAL, "statfs failed: Stale file handle")
    denied = responsive(MountStatus(spec, entry, responsive="error", probe_detail="Permission denied"))
    assert denied.status == Status.WARNING
    unprobed = responsive(MountStatus(spec, entry, probe_detail="probe could not run: gpu1: disconnected"))
    assert (unprobed.status, unprobed.summary) == (
        Status.UNKNOWN,
        "not probed: probe could not run: gpu1: disconnected",
    )
    assert responsive(MountStatus(spec)).status == Status.SKIPPED  # not mounted


def test_rule_nfs_server() -> None:
    specs = (
        MountSpec("/mnt/atlas/models", "atlas:/export/models", fstype="nfs4"),
        MountSpec("/mnt/atlas/datasets", "atlas:/export/datasets"),
        MountSpec("/mnt/legacy", "[fd00::11]:/srv/legacy", fstype="nfs"),
        MountSpec("/mnt/nas", "//nas/media", fstype="cifs"),
        MountSpec("/mnt/sshfs", "ops@bastion:/data", fstype="fuse.sshfs"),
        MountSpec("/mnt/any"),
    )
    node = rules_node(*specs)
    assert [target for check, target in planned_mounts(node) if check == "nfs.server"] == [
        "atlas",
        "fd00::11",
    ]
    servers = [
        ServerStatus("atlas", "reachable", "port 2049 open (2 ms); rpcinfo: NFS v4", 0.002),
        ServerStatus("fd00::11", "unreachable", "port 2049: Connection refused"),
    ]
    results = by_check(evaluate_mounts(node, snapshot_of(*(MountStatus(s) for s in specs), servers=servers)))
    ok, down = results[("nfs.server", "atlas")], results[("nfs.server", "fd00::11")]
    assert (ok.status, ok.summary) == (Status.OK, "port 2049 open (2 ms); rpcinfo: NFS v4")
    assert [(p.label, p.value) for p in ok.perfdata] == [("connect", 0.002)]
    assert (down.status, down.summary) == (
        Status.CRITICAL,
        "NFS server unreachable from gpu1: port 2049: Connection refused",
    )
    unchecked = evaluate_mounts(
        node, snapshot_of(servers=[ServerStatus("atlas", None, "not checked: gpu1: disconnected")])
    )
    assert {r.status for r in unchecked if r.check == "nfs.server"} == {Status.UNKNOWN}


async def test_a_local_node_probes_the_same_way(nfs_server: NfsServer, tmp_path: Path) -> None:
    specs = (
        MountSpec("/", timeout=3),
        MountSpec(str(tmp_path / "not-mounted")),
        MountSpec("/mnt/x", nfs_server.source),
    )
    snapshot = await collect_mounts(LocalTransport("local"), specs, state_dir=str(tmp_path / "state"))
    root, absent, _ = snapshot.mounts
    assert (root.responsive, root.entry is not None) == ("ok", True)
    assert (absent.entry, absent.responsive) == (None, None)
    assert [(server.host, server.state) for server in snapshot.servers] == [("127.0.0.1", "reachable")]
