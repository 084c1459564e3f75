"""The Kubernetes collector: `kubectl` (or `oc`) on the inventory's `kubernetes.via` node (its kubeconfig).

Three reads side by side on the via node's one connection, each bounded by the node's command timeout (and
kubectl's own `--request-timeout`): the nodes, the pods that are neither Succeeded nor Failed (GPU requests
summed per node; the GPU Operator's pods) and the GPU Operator's ClusterPolicy. The kubeconfig never leaves
the node. Output is held to the transport's cap (4 MiB a command, console/transport/bounded.py), kept as it is
for every other read: a NodeList runs 5-15 KB a node (several hundred nodes fit), a PodList 4-20 KB a pod.
A PodList past the cap is read again compactly (PODS_COMPACT: ~100 bytes a pod), with the GPU Operator's
namespace alone as JSON, so a cluster of tens of thousands of pods still sums its GPU requests without
holding many MB per poll; a NodeList past it says "output too large". Never raises for
node trouble: what could not be read goes in the snapshot's errors.
"""

from __future__ import annotations

import shlex
from datetime import UTC, datetime

from console.collectors.kubernetes_parse import (
    KubeParseError,
    parse_compact_pods,
    parse_nodes,
    parse_pods,
    parse_policies,
)
from console.collectors.reads import LastRead, read_failure, run_reads
from console.model.inventory import Node
from console.model.kubernetes import (
    CONTEXT_PATTERN,
    NAMESPACE_PATTERN,
    K8sPod,
    KubernetesSettings,
    KubernetesSnapshot,
    parse_label,
)
from console.transport.base import CommandResult, OutputTooLarge, Transport
from console.transport.readonly import Argv, Word

PODS_SELECTOR = "--field-selector=status.phase!=Succeeded,status.phase!=Failed"
POLICIES = "clusterpolicies.nvidia.com"
_READS = (
    ("get", "nodes", "-o", "json"),
    ("get", "pods", "-A", "-o", "json", PODS_SELECTOR),
    ("get", POLICIES, "-o", "json"),
)
# Past the transport's cap the pods are read again in a compact form (one line a pod, ~100 bytes: some
# 40,000 pods in 4 MiB), and the GPU Operator's namespace alone as JSON (its pods' readiness and restarts).
_GPU = r"nvidia\.com/gpu"
PODS_COMPACT = (
    "get",
    "pods",
    "-A",
    PODS_SELECTOR,
    "-o",
    r'jsonpath={range .items[*]}{.metadata.namespace}{"\t"}{.metadata.name}{"\t"}{.spec.nodeName}{"\t"}'
    r'{.status.phase}{"\t"}{.spec.containers[*].resources.requests.' + _GPU + r'}{"\t"}'
    r"{.spec.containers[*].resources.limits." + _GPU + r'}{"\n"}{end}',
)
_NAMESPACE = Word(NAMESPACE_PATTERN)
_TOOL = Word("kubectl|oc")
_CONTEXT = Word(CONTEXT_PATTERN)
_REQUEST_TIMEOUT = Word(r"--request-timeout=[0-9]{1,4}s")
_OPERATOR_PODS = ("get", "pods", "-n", _NAMESPACE, "-o", "json")
COMMANDS = tuple(
    rule
    for read in (*_READS, PODS_COMPACT, _OPERATOR_PODS)
    for rule in (
        Argv(_TOOL, _REQUEST_TIMEOUT, *read),
        Argv(_TOOL, "--context", _CONTEXT, _REQUEST_TIMEOUT, *read),
    )
)
NO_RESOURCE = "the server doesn't have a resource type"


def label_keys(settings: KubernetesSettings) -> frozenset[str]:
    """The node labels the checks and the screen read: the pool label and the expected ones."""
    expected = settings.expect.labels if settings.expect is not None else ()
    pool = (settings.pool_label,) if settings.pool_label else ()
    return frozenset((*pool, *(parse_label(text)[0] for text in expected)))


def kube_command(settings: KubernetesSettings, timeout: float, *read: str) -> str:
    context = ("--context", settings.context) if settings.context else ()
    seconds = max(1, min(9999, int(timeout) - 1))  # kubectl gives up before the command's own deadline
    return shlex.join([settings.command, *context, f"--request-timeout={seconds}s", *read])


def _failure(settings: KubernetesSettings, what: str, result: CommandResult | BaseException) -> str:
    return read_failure(
        f"{settings.command} get {what}", result, f"{settings.command}: not found on the via node"
    )


# The last read per via node: polls within `kubernetes.interval` reuse it. --check reads once anyway.
_LAST: LastRead[KubernetesSnapshot] = LastRead()


async def collect_kubernetes(transport: Transport, node: Node) -> KubernetesSnapshot:
    settings = node.settings("kubernetes")
    interval = settings.interval if isinstance(settings, KubernetesSettings) else 0.0
    return await _LAST.get(node.name, interval, lambda: read_kubernetes(transport, node))


async def read_kubernetes(transport: Transport, node: Node) -> KubernetesSnapshot:
    """The cluster as the via node's kubectl sees it, now."""
    settings = node.settings("kubernetes")
    assert isinstance(settings, KubernetesSettings)
    timeout = node.ssh.command_timeout
    nodes_r, pods_r, policy_r = await run_reads(
        transport, [kube_command(settings, timeout, *read) for read in _READS], timeout
    )
    now = datetime.now(UTC)
    if not (isinstance(nodes_r, CommandResult) and nodes_r.ok):
        return KubernetesSnapshot(node.name, now, error=_failure(settings, "nodes", nodes_r))
    try:
        nodes, nodes_left = parse_nodes(nodes_r.stdout, label_keys(settings))
    except KubeParseError as exc:
        return KubernetesSnapshot(node.name, now, error=f"{settings.command} get nodes: {exc}")
    pods: tuple[K8sPod, ...] = ()
    pods_left, pods_error = 0, None
    if isinstance(pods_r, CommandResult) and pods_r.ok:
        try:
            pods, pods_left = parse_pods(pods_r.stdout, settings.operator_namespace)
        except KubeParseError as exc:
            pods_error = f"{settings.command} get pods: {exc}"
    elif isinstance(pods_r, OutputTooLarge):
        pods, pods_left, pods_error = await _compact_pods(transport, settings, timeout)
    else:
        pods_error = _failure(settings, "pods", pods_r)
    policies, policy_error, missing = None, None, False
    if isinstance(policy_r, CommandResult) and policy_r.ok:
        try:
            policies = parse_policies(policy_r.stdout)
        except KubeParseError as exc:
            policy_error = f"{settings.command} get {POLICIES}: {exc}"
    elif isinstance(policy_r, CommandResult) and NO_RESOURCE in policy_r.stderr:
        missing, policies = True, ()
    else:
        policy_error = _failure(settings, POLICIES, policy_r)
    return KubernetesSnapshot(
        node.name,
        now,
        nodes=nodes,
        pods=pods,
        policies=policies,
        pods_error=pods_error,
        policy_error=policy_error,
        policy_missing=missing,
        left_out=nodes_left + pods_left,
    )


async def _compact_pods(
    transport: Transport, settings: KubernetesSettings, timeout: float
) -> tuple[tuple[K8sPod, ...], int, str | None]:
    """The pods of a cluster whose PodList JSON passed the cap: one line each, and the operator's as JSON."""
    namespace = settings.operator_namespace
    operator_pods = kube_command(settings, timeout, "get", "pods", "-n", namespace, "-o", "json")
    compact, operator = await run_reads(
        transport, [kube_command(settings, timeout, *PODS_COMPACT), operator_pods], timeout
    )
    if not (isinstance(compact, CommandResult) and compact.ok):
        return (), 0, _failure(settings, "pods", compact)
    pods, left_out = parse_compact_pods(compact.stdout, namespace)
    if isinstance(operator, CommandResult) and operator.ok:
        try:
            detailed, _ = parse_pods(operator.stdout, namespace)
        except KubeParseError as exc:
            return pods, left_out, f"{settings.command} get pods -n {namespace}: {exc}"
        pods = tuple(pod for pod in pods if pod.namespace != namespace) + detailed
    return pods, left_out, None
