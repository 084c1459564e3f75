"""console/atomic.py on the real filesystem: whole or nothing, links replaced and never followed, modes."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from console import atomic
from console.atomic import write_atomically


def mode_of(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def test_writes_text_or_bytes_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    write_atomically(target, "héllo\n")
    assert target.read_bytes() == "héllo\n".encode()
    write_atomically(target, b"\x00bytes")
    assert target.read_bytes() == b"\x00bytes"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_a_symlink_at_the_target_is_replaced_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    victim.chmod(0o600)
    target = tmp_path / "report.prom"
    target.symlink_to(victim)
    write_atomically(target, "new\n")
    assert not target.is_symlink()
    assert target.read_text() == "new\n"
    assert victim.read_text() == "keep me"
    assert mode_of(victim) == 0o600


def test_a_link_planted_at_the_temp_name_is_never_written_through(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    names = iter(["aaaa", "bbbb"])
    monkeypatch.setattr(atomic.secrets, "token_hex", lambda _n: next(names))
    (tmp_path / ".out.aaaa.tmp").symlink_to(victim)
    write_atomically(tmp_path / "out", "new")
    assert (tmp_path / "out").read_text() == "new"
    assert victim.read_text() == "keep me"
    assert (tmp_path / ".out.aaaa.tmp").is_symlink()  # left alone, not unlinked: it is not ours


@pytest.mark.usefixtures("umask_022")
def test_modes(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh"
    write_atomically(fresh, "x")
    assert mode_of(fresh) == 0o644  # 0o666 less the umask, as open() would
    write_atomically(tmp_path / "init", "x", default_mode=0o640)
    assert mode_of(tmp_path / "init") == 0o640
    forced = tmp_path / "forced"
    write_atomically(forced, "x", mode=0o664)  # exact: the umask does not apply
    assert mode_of(forced) == 0o664
    kept = tmp_path / "kept"
    kept.write_text("old")
    kept.chmod(0o600)
    write_atomically(kept, "new")
    assert (kept.read_text(), mode_of(kept)) == ("new", 0o600)  # the replaced file's mode is kept
    link = tmp_path / "link"
    link.symlink_to(kept)
    write_atomically(link, "via link")
    assert mode_of(link) == 0o644  # a link's target gives no mode: the default applies
    assert kept.read_text() == "new"


def test_a_failure_leaves_the_old_file_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "dir"
    target.mkdir()
    (target / "inside").write_text("x")
    with pytest.raises(OSError, match="directory"):
        write_atomically(target, "new")  # a rename over a non-empty directory fails
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir"]
    with pytest.raises(FileNotFoundError):
        write_atomically(tmp_path / "missing" / "out", "x")


def test_the_wizards_local_write_keeps_the_mode_and_writes_through_no_planted_link(tmp_path: Path) -> None:
    """The tls-mismatch fix rewrites the inventory on this machine: it once wrote through a fixed temp name,
    so a link planted at `inventory.yaml.opsconsole-tmp` sent the new inventory into the link's target."""
    from console.actions import AuditLog
    from console.inventory.model import Node
    from console.transport.local import LocalTransport
    from console.wizards.engine import NodeContext
    from console.wizards.ops import WriteFile

    inventory = tmp_path / "inventory.yaml"
    inventory.write_text("old\n")
    inventory.chmod(0o640)
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    Path(f"{inventory}.opsconsole-tmp").symlink_to(victim)
    ctx = NodeContext(LocalTransport("here"), Node("here", "localhost", transport="local"), AuditLog())
    write = WriteFile.planned(str(inventory), "new\n", "old\n", root=False, local=True)
    ctx.write_local(write)
    assert (inventory.read_text(), mode_of(inventory)) == ("new\n", 0o640)
    assert victim.read_text() == "keep me"
    assert write.backup is not None
    assert Path(write.backup).read_text() == "old\n"
