"""Inventory models for lab nodes, for tests that build a Node directly instead of writing YAML."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from console.inventory.model import Node, SSHSettings
from tests.lab.node import LabNode
from tests.lab.sshd import SshLab


def lab_node_model(lab: SshLab, node: LabNode, *, ssh: dict[str, Any] | None = None, **fields: Any) -> Node:
    """A Node reaching `node` through the real lab sshd; `ssh` overrides SSH settings, `fields` the node's."""
    settings = SSHSettings(
        user=lab.user,
        port=node.port,
        identity_file=str(lab.client_key_path),
        known_hosts=str(lab.known_hosts_path),
        connect_timeout=3,
        command_timeout=5,
    )
    return Node(node.name, node.host, ssh=replace(settings, **(ssh or {})), **fields)
