"""Rules for a node's services: HTTP probes, TLS mismatches and the bind audit. Pure functions, no I/O.

Check ids (targets are service names):
- `service.http`: the probe's status equals `http.expect` → ok (latency perfdata); another status, refused,
  timed out or not HTTP → critical; a TLS mismatch → unknown, pointing at `service.tls_mismatch`.
- `service.tls_mismatch`: https against a plain-HTTP port, or plain HTTP against a TLS port → critical, with
  the URL that works as the fix; ok when the scheme got an HTTP answer.
- `service.bind`: listening on, or Docker publishing, the port wider than the inventory's `bind` → critical;
  nothing listening on the port → warning; otherwise ok.
"""

from __future__ import annotations

from collections.abc import Sequence

from console.checks.model import CheckResult, Perf, Status
from console.collectors.listeners import BindFinding, Published, audit_binds
from console.collectors.services import ProbeResult, ServicesSnapshot
from console.inventory.model import Node, ServiceSpec

HTTP = "service.http"
TLS_MISMATCH = "service.tls_mismatch"
BIND = "service.bind"


def planned_services(node: Node) -> tuple[tuple[str, str | None], ...]:
    """(check id, target) for every service check the node gets, in inventory order."""
    planned: list[tuple[str, str | None]] = []
    for spec in node.services:
        if spec.http is not None:
            planned += [(HTTP, spec.name), (TLS_MISMATCH, spec.name)]
        if spec.bind is not None:
            planned.append((BIND, spec.name))
    return tuple(planned)


def _unknown(node: Node, summary: str) -> tuple[CheckResult, ...]:
    return tuple(
        CheckResult(node.name, check, Status.UNKNOWN, summary, target=target)
        for check, target in planned_services(node)
    )


def evaluate_services(
    node: Node, snapshot: ServicesSnapshot | None, published: Sequence[Published] = ()
) -> tuple[CheckResult, ...]:
    """Results for every planned service check. `published` are Docker's (container, host_ip, host_port)."""
    if snapshot is None:
        return _unknown(node, "no service data")
    if snapshot.error is not None:
        return _unknown(node, f"node unreachable: {snapshot.error}")
    specs = {spec.name: spec for spec in node.services}
    findings = {
        finding.service: finding for finding in audit_binds(node.services, snapshot.listeners, published)
    }
    results: list[CheckResult] = []
    for check, target in planned_services(node):
        spec = specs[target or ""]
        if check == BIND:
            results.append(_bind(node, spec, findings[spec.name], snapshot.listeners_error))
            continue
        probe = snapshot.probe(spec.name)
        if probe is None:
            results.append(CheckResult(node.name, check, Status.UNKNOWN, "not probed", target=spec.name))
        elif check == HTTP:
            results.append(_http(node, spec, probe))
        else:
            results.append(_tls(node, spec, probe))
    return tuple(results)


def _http(node: Node, spec: ServiceSpec, probe: ProbeResult) -> CheckResult:
    def result(status: Status, summary: str, perfdata: tuple[Perf, ...] = ()) -> CheckResult:
        return CheckResult(node.name, HTTP, status, summary, target=spec.name, perfdata=perfdata)

    if probe.outcome == "ok":
        latency = probe.latency_s or 0.0
        return result(Status.OK, f"{probe.detail} ({probe.url})", (Perf("latency", round(latency, 6), "s"),))
    if probe.outcome == "tls_mismatch":
        return result(Status.UNKNOWN, f"TLS mismatch: see {TLS_MISMATCH}")
    if probe.outcome == "error" and probe.transport_failed:
        return result(Status.UNKNOWN, f"cannot probe: {probe.detail}")
    if probe.outcome == "unexpected_status":
        perfdata = (Perf("latency", round(probe.latency_s, 6), "s"),) if probe.latency_s is not None else ()
        return result(Status.CRITICAL, f"{probe.detail} ({probe.url})", perfdata)
    return result(Status.CRITICAL, probe.detail)  # down, timeout, not HTTP


def _tls(node: Node, spec: ServiceSpec, probe: ProbeResult) -> CheckResult:
    scheme = spec.http.scheme if spec.http is not None else "http"
    if probe.outcome == "tls_mismatch":
        fix = f"use {probe.fix_url}" if probe.fix_url else None
        return CheckResult(node.name, TLS_MISMATCH, Status.CRITICAL, probe.detail, target=spec.name, fix=fix)
    if probe.outcome in ("ok", "unexpected_status"):
        summary = "TLS handshake and HTTP answer" if scheme == "https" else "plain HTTP answered"
        return CheckResult(node.name, TLS_MISMATCH, Status.OK, summary, target=spec.name)
    return CheckResult(
        node.name, TLS_MISMATCH, Status.UNKNOWN, f"cannot tell: {probe.outcome}", target=spec.name
    )


def bind_fix(spec: ServiceSpec, finding: BindFinding) -> str:
    bind = f"[{finding.expected}]" if ":" in finding.expected else finding.expected
    if spec.container is not None or finding.via_published:
        return f"publish as {bind}:{spec.port}:{spec.port} in compose (ports:)"
    return f"make it listen on {bind}:{spec.port} only"


def _bind(node: Node, spec: ServiceSpec, finding: BindFinding, listeners_error: str | None) -> CheckResult:
    def result(status: Status, summary: str, fix: str | None = None) -> CheckResult:
        return CheckResult(node.name, BIND, status, summary, target=spec.name, fix=fix)

    if finding.verdict == "exposed":
        return result(Status.CRITICAL, finding.detail, bind_fix(spec, finding))
    if listeners_error is not None:  # only Docker's word to go on, and it found nothing wide
        return result(Status.UNKNOWN, f"cannot read listeners: {listeners_error}")
    if finding.verdict == "not_listening":
        return result(Status.WARNING, finding.detail)
    return result(Status.OK, finding.detail)
