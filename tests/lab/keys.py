"""Key and file helpers of the lab: OpenSSH public key lines, private and atomic writes, known_hosts."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import asyncssh

if TYPE_CHECKING:
    from tests.lab.node import LabNode


def public_key_line(key: asyncssh.SSHKey) -> str:
    """`ssh-ed25519 AAAA...` without a comment."""
    return " ".join(key.export_public_key("openssh").decode("ascii").split()[:2])


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(path, 0o600)


def _write_atomic(path: Path, text: str, mode: int = 0o644) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def write_known_hosts(
    path: str | os.PathLike[str],
    nodes: Iterable[LabNode],
    *,
    wrong_for: Iterable[LabNode | str] = (),
) -> Path:
    """Write a known_hosts for nodes; those in wrong_for (nodes or names) get a fresh, wrong key."""
    wrong = {item if isinstance(item, str) else item.name for item in wrong_for}
    lines = []
    for node in nodes:
        if node.name in wrong:
            impostor = asyncssh.generate_private_key("ssh-ed25519")
            lines.append(f"[{node.host}]:{node.port} {public_key_line(impostor)}")
        else:
            lines.append(node.known_hosts_line())
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(target, "".join(line + "\n" for line in lines))
    return target
