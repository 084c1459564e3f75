"""The Docker section: read by the Docker watcher (the events stream), judged by console.checks.docker_rules.

Its SSH reads: the host probe (which daemons, which TCP listeners), `diagnose_socket`, which asks the
node's shell why the socket cannot be used, and, when there is no socket, whether the node is a pod
(console/pods.py). The Docker API itself goes through the read-only socket proxy.
"""

from __future__ import annotations

from datetime import UTC, datetime

from console.checks.docker_rules import evaluate_docker, planned_docker
from console.collectors.docker import HOST_PROBE, collect_docker
from console.inventory import settings as inventory
from console.model.checks import CheckResult
from console.model.columns import NodeTab
from console.model.docker import DockerSnapshot
from console.model.inventory import Node
from console.model.node import NodeSnapshot
from console.pods import POD_PROBE
from console.sections.registry import Section
from console.sections.stream import Stream
from console.sections.tally_columns import DOCKER_COLUMNS, docker_cells
from console.streams.docker_section import open_docker_stream
from console.transport.base import Transport
from console.transport.readonly import Text, Word

# docker.diagnose_socket: who am I, the socket's group, can I read and write it.
# The socket path is any string (stat and dirname only read, whatever they are given).
DIAGNOSE_SOCKET = Text(
    "s=",
    Word(".*"),
    "; id -un; stat -c %G \"$s\" 2>/dev/null || echo '?'; "
    'if [ -S "$s" ]; then if [ -r "$s" ] && [ -w "$s" ]; then echo ok; else echo denied; fi; '
    'elif [ -e "$s" ]; then echo notsocket; '
    'elif [ -d "$(dirname "$s")" ] && [ ! -x "$(dirname "$s")" ]; then echo denied; '
    "else echo missing; fi",
)


async def _collect(transport: Transport, node: Node) -> DockerSnapshot:
    return await collect_docker(transport, node, timeout=node.ssh.command_timeout)


def _timed_out(node: Node, message: str) -> DockerSnapshot:
    return DockerSnapshot(node.name, datetime.now(UTC), None, error=f"Docker did not answer: {message}")


def _wanted(node: Node) -> bool:
    return node.docker is not None


def _evaluate(node: Node, snapshot: NodeSnapshot) -> tuple[CheckResult, ...]:
    return evaluate_docker(node, snapshot.docker)


DOCKER = Section(
    "docker",
    _wanted,
    planned_docker,
    _evaluate,
    read_only_commands=(HOST_PROBE, DIAGNOSE_SOCKET, POD_PROBE),
    stream=Stream(open_docker_stream, _collect),
    timed_out=_timed_out,
    settings=(inventory.DOCKER,),
    columns=DOCKER_COLUMNS,
    cells=docker_cells,
    tab=NodeTab("containers", "Containers", 2),
)
