"""The text of a version-1 opsconsole inventory that points at nodes of the real-sshd lab."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.lab.node import LabNode


def _scalar(value: object) -> str:
    return json.dumps(value)  # a JSON scalar is a valid YAML flow scalar


def _flow(mapping: Mapping[str, object]) -> str:
    return "{" + ", ".join(f"{key}: {_scalar(value)}" for key, value in mapping.items()) + "}"


def inventory_yaml(
    nodes: Sequence[LabNode],
    *,
    user: str,
    identity_file: str | os.PathLike[str],
    known_hosts: str | os.PathLike[str],
    name: str = "lab",
    extra_nodes: str = "",
    gpus: Mapping[str, Mapping[str, object]] | None = None,
    connect_timeout: float = 5,
    refresh: float = 1,
) -> str:
    """A version-1 opsconsole inventory; extra_nodes is raw YAML, already indented, put under nodes:."""
    ssh_defaults = {
        "user": user,
        "identity_file": str(identity_file),
        "known_hosts": str(known_hosts),
        "connect_timeout": connect_timeout,
    }
    lines = [
        "version: 1",
        f"name: {_scalar(name)}",
        "defaults:",
        f"  ssh: {_flow(ssh_defaults)}",
        f"  refresh: {_scalar(refresh)}",
        "nodes:",
    ]
    for node in nodes:
        lines.append(f"  {node.name}:")
        lines.append(f"    host: {node.host}")
        lines.append(f"    ssh: {_flow({'port': node.port})}")
        if gpus is not None and node.name in gpus:
            lines.append(f"    gpus: {_flow(gpus[node.name])}")
    text = "\n".join(lines) + "\n"
    if extra_nodes:
        text += extra_nodes if extra_nodes.endswith("\n") else extra_nodes + "\n"
    return text
