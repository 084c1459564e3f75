"""The Docker section: read by the Docker watcher (a stream), judged by console.checks.docker_rules.

Its SSH reads: the host probe (which daemons, which TCP listeners) and `diagnose_socket`, which asks the
node's shell why the socket cannot be used. The Docker API itself goes through the read-only socket proxy.
"""

from __future__ import annotations

from console.checks.docker_rules import evaluate_docker, planned_docker
from console.collectors.docker import HOST_PROBE
from console.model.checks import CheckResult
from console.model.inventory import Node
from console.model.node import NodeSnapshot
from console.sections.registry import Section
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


def _wanted(node: Node) -> bool:
    return node.docker is not None


def _evaluate(node: Node, snapshot: NodeSnapshot) -> tuple[CheckResult, ...]:
    return evaluate_docker(node, snapshot.docker)


DOCKER = Section(
    "docker", _wanted, planned_docker, _evaluate, read_only_commands=(HOST_PROBE, DIAGNOSE_SOCKET)
)
