"""HTTP(S) probes through a real sshd (direct-tcpip) against real servers on loopback, and their rules."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from console.checks.model import Status
from console.checks.service_rules import evaluate_services, planned_services
from console.collectors.services import (
    ProbeResult,
    ServicesSnapshot,
    collect_services,
    looks_like_tls,
    mentions_plain_to_tls,
    probe_service,
    tls_handshake_mismatch,
)
from console.inventory.model import HttpProbe, HttpScheme, Node, ServiceSpec, SSHSettings
from console.transport import SSHTransport
from console.transport.local import LocalTransport
from tests.lab.http_services import (
    CERT_COMMON_NAME,
    LabHttpServer,
    SelfSignedCert,
    SilentServer,
    tcp_socket_owner,
)
from tests.lab.models import lab_node_model
from tests.lab.sshd import LabNode, SshLab


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> SelfSignedCert:
    return SelfSignedCert.create(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def plain_server() -> Iterator[LabHttpServer]:
    with LabHttpServer() as server:
        yield server


@pytest.fixture(scope="module")
def failing_server() -> Iterator[LabHttpServer]:
    with LabHttpServer(status=503) as server:
        yield server


@pytest.fixture(scope="module")
def tls_server(cert: SelfSignedCert) -> Iterator[LabHttpServer]:
    with LabHttpServer(cert=cert) as server:
        yield server


@pytest.fixture
def silent_server() -> Iterator[SilentServer]:
    with SilentServer() as server:
        yield server


@pytest.fixture
async def ssh(ssh_lab: SshLab, plain_node: LabNode) -> AsyncIterator[SSHTransport]:
    transport = SSHTransport(lab_node_model(ssh_lab, plain_node))
    try:
        yield transport
    finally:
        await transport.close()


def http(
    name: str,
    port: int,
    *,
    path: str = "/",
    expect: int = 200,
    scheme: HttpScheme = "http",
    timeout: float = 5,
) -> ServiceSpec:
    return ServiceSpec(name, port, http=HttpProbe(path=path, expect=expect, scheme=scheme, timeout=timeout))


# --- probes through SSH -----------------------------------------------------------------------------------


async def test_200_through_ssh_speaks_our_http(ssh: SSHTransport, plain_server: LabHttpServer) -> None:
    result = await probe_service(ssh, http("comfyui", plain_server.port, path="/system_stats"))
    assert (result.outcome, result.status_code) == ("ok", 200)
    assert result.latency_s is not None
    assert 0 < result.latency_s < 5
    assert result.detail.startswith("HTTP 200 OK in ")
    assert result.url == f"http://127.0.0.1:{plain_server.port}/system_stats"
    seen = plain_server.requests[-1]
    assert (seen.method, seen.path, seen.version) == ("GET", "/system_stats", "HTTP/1.1")
    assert seen.headers["Host"] == f"127.0.0.1:{plain_server.port}"
    assert (seen.headers["Connection"], seen.headers["User-Agent"]) == ("close", "opsconsole")


async def test_other_status_than_expected(ssh: SSHTransport, failing_server: LabHttpServer) -> None:
    result = await probe_service(ssh, http("ollama", failing_server.port))
    assert (result.outcome, result.status_code, result.detail) == (
        "unexpected_status",
        503,
        "HTTP 503, expected 200",
    )
    assert (await probe_service(ssh, http("ollama", failing_server.port, expect=503))).outcome == "ok"


async def test_https_through_ssh_records_the_certificate(
    ssh: SSHTransport, tls_server: LabHttpServer, cert: SelfSignedCert
) -> None:
    result = await probe_service(ssh, http("webui", tls_server.port, scheme="https"))
    assert (result.outcome, result.status_code) == ("ok", 200)
    assert (result.tls_subject, result.tls_not_after) == (f"CN={CERT_COMMON_NAME}", cert.not_after)
    assert tls_server.requests[-1].headers["User-Agent"] == "opsconsole"


async def test_https_against_a_plain_port_is_a_tls_mismatch(
    ssh: SSHTransport, plain_server: LabHttpServer
) -> None:
    port = plain_server.port
    result = await probe_service(ssh, http("comfyui", port, scheme="https"))
    assert result.outcome == "tls_mismatch"
    assert result.detail == f"HTTPS used against a plain-HTTP port: use http://127.0.0.1:{port}/"
    assert result.fix_url == f"http://127.0.0.1:{port}/"


async def test_plain_http_against_a_tls_port_is_a_tls_mismatch(
    ssh: SSHTransport, tls_server: LabHttpServer
) -> None:
    port, errors_before = tls_server.port, len(tls_server.errors)
    result = await probe_service(ssh, http("webui", port))
    assert result.outcome == "tls_mismatch"
    assert result.detail == f"plain HTTP used against a TLS port: use https://127.0.0.1:{port}/"
    assert result.fix_url == f"https://127.0.0.1:{port}/"
    assert "SSLError: HTTP_REQUEST" in tls_server.errors[errors_before:]  # OpenSSL really saw our GET


async def test_refused_port_is_down(ssh: SSHTransport, ssh_lab: SshLab) -> None:
    port = ssh_lab.dead_port()
    result = await probe_service(ssh, http("gone", port))
    assert (result.outcome, result.detail) == ("down", f"http://127.0.0.1:{port}/: connection refused")


async def test_silent_server_times_out_on_time_and_the_stream_came_from_sshd(
    ssh: SSHTransport, silent_server: SilentServer, ssh_lab: SshLab
) -> None:
    started = time.monotonic()
    task = asyncio.create_task(probe_service(ssh, http("hung", silent_server.port, timeout=1.0)))
    assert await asyncio.to_thread(silent_server.connected.wait, 5), "the probe never connected"
    # The connection to the service is held by the node's sshd (logged in as the lab user), not by us.
    owner = tcp_socket_owner(silent_server.peers[0][1], silent_server.port)
    assert owner is not None
    assert owner[1] == "sshd"
    assert owner[2] == ssh_lab.user_entry.pw_uid
    result = await task
    elapsed = time.monotonic() - started
    assert (result.outcome, result.detail) == ("timeout", f"{result.url}: no answer within 1s")
    assert 1.0 <= elapsed < 2.0  # our deadline, not the 5 s default


async def test_a_port_speaking_another_protocol(ssh: SSHTransport, plain_node: LabNode) -> None:
    # The node's own sshd: it greets with "SSH-2.0-...". Neither a mismatch nor a refusal: an error.
    plain = await probe_service(ssh, http("sshd", plain_node.port))
    assert plain.outcome == "error"
    assert "not an HTTP response: b'SSH-2.0-OpenSSH" in plain.detail
    tls = await probe_service(ssh, http("sshd", plain_node.port, scheme="https", timeout=2))
    assert tls.outcome == "error"
    assert "TLS handshake failed" in tls.detail


async def test_local_transport_probes_the_same_way(
    plain_server: LabHttpServer, tls_server: LabHttpServer
) -> None:
    local = LocalTransport("here")
    assert (await probe_service(local, http("a", plain_server.port))).outcome == "ok"
    assert (await probe_service(local, http("b", tls_server.port))).outcome == "tls_mismatch"
    assert (
        await probe_service(local, http("c", plain_server.port, scheme="https"))
    ).outcome == "tls_mismatch"


# --- the collector and the rules, end to end --------------------------------------------------------------


async def test_collect_and_evaluate_every_service_of_a_node(
    ssh_lab: SshLab,
    plain_node: LabNode,
    plain_server: LabHttpServer,
    failing_server: LabHttpServer,
    tls_server: LabHttpServer,
    silent_server: SilentServer,
) -> None:
    hung_too = SilentServer()
    try:
        services = (
            ServiceSpec("comfyui", plain_server.port, bind="127.0.0.1", http=HttpProbe(path="/")),
            ServiceSpec("ollama", failing_server.port, http=HttpProbe()),
            ServiceSpec("webui", tls_server.port, http=HttpProbe(scheme="http")),
            ServiceSpec("hung", silent_server.port, http=HttpProbe(timeout=1.5)),
            ServiceSpec("hung2", hung_too.port, http=HttpProbe(timeout=1.5)),
            ServiceSpec("gone", ssh_lab.dead_port(), bind="127.0.0.1"),
        )
        node = lab_node_model(ssh_lab, plain_node, services=services)
        transport = SSHTransport(node)
        try:
            snapshot = await collect_services(transport, node)
        finally:
            await transport.close()
    finally:
        hung_too.close()
    assert snapshot.error is None
    assert snapshot.listeners_error is None
    assert [probe.outcome for probe in snapshot.probes] == [
        "ok",
        "unexpected_status",
        "tls_mismatch",
        "timeout",
        "timeout",
    ]
    assert snapshot.duration_s is not None
    assert 1.5 <= snapshot.duration_s < 2.7  # two 1.5 s timeouts, concurrently (3 s one after the other)
    assert any(listener.port == plain_server.port for listener in snapshot.listeners)

    results = {(result.check, result.target): result for result in evaluate_services(node, snapshot)}
    assert list(results) == list(planned_services(node))
    ok = results["service.http", "comfyui"]
    assert ok.status is Status.OK
    assert ok.perfdata[0].label == "latency"
    assert ok.perfdata[0].value > 0
    assert results["service.tls_mismatch", "comfyui"].status is Status.OK
    assert results["service.bind", "comfyui"].status is Status.OK
    assert (results["service.http", "ollama"].status, results["service.http", "ollama"].summary) == (
        Status.CRITICAL,
        f"HTTP 503, expected 200 (http://127.0.0.1:{failing_server.port}/)",
    )
    webui_http, webui_tls = results["service.http", "webui"], results["service.tls_mismatch", "webui"]
    assert (webui_http.status, webui_http.summary) == (
        Status.UNKNOWN,
        "TLS mismatch: see service.tls_mismatch",
    )
    assert (webui_tls.status, webui_tls.fix) == (Status.CRITICAL, f"use https://127.0.0.1:{tls_server.port}/")
    assert results["service.http", "hung"].status is Status.CRITICAL
    assert results["service.tls_mismatch", "hung"].status is Status.UNKNOWN
    gone = results["service.bind", "gone"]
    assert (gone.status, gone.summary) == (Status.WARNING, f"nothing listening on {services[-1].port}")


async def test_unreachable_node_gives_an_error_and_unknown_checks(ssh_lab: SshLab, tmp_path: Path) -> None:
    settings = SSHSettings(
        user=ssh_lab.user,
        port=ssh_lab.dead_port(),
        identity_file=str(ssh_lab.client_key_path),
        known_hosts=str(ssh_lab.known_hosts_path),
        connect_timeout=2,
    )
    node = Node("down1", "127.0.0.1", ssh=settings, services=(http("comfyui", 8188),))
    transport = SSHTransport(node)
    try:
        snapshot = await collect_services(transport, node)
    finally:
        await transport.close()
    assert snapshot.error is not None
    assert "refused" in snapshot.error
    assert snapshot.probes == ()
    results = evaluate_services(node, snapshot)
    assert [(r.check, r.status) for r in results] == [
        ("service.http", Status.UNKNOWN),
        ("service.tls_mismatch", Status.UNKNOWN),
    ]
    assert results[0].summary.startswith("node unreachable: ")


# --- rules, pure ------------------------------------------------------------------------------------------


def rules_node() -> Node:
    return Node("gpu1", "127.0.0.1", services=(http("webui", 8080, scheme="https"), ServiceSpec("plain", 1)))


def one_probe(probe: ProbeResult) -> ServicesSnapshot:
    return ServicesSnapshot("gpu1", datetime.now(UTC), probes=(probe,))


def test_plan_names_only_services_with_probes() -> None:
    assert planned_services(rules_node()) == (("service.http", "webui"), ("service.tls_mismatch", "webui"))
    assert [r.status for r in evaluate_services(rules_node(), None)] == [Status.UNKNOWN, Status.UNKNOWN]


def test_https_mismatch_rule_says_which_url_to_use() -> None:
    probe = ProbeResult(
        "webui",
        None,
        None,
        "tls_mismatch",
        "HTTPS used against a plain-HTTP port: use http://127.0.0.1:8080/",
        "https://127.0.0.1:8080/",
        fix_url="http://127.0.0.1:8080/",
    )
    http_result, tls_result = evaluate_services(rules_node(), one_probe(probe))
    assert (http_result.status, http_result.summary) == (
        Status.UNKNOWN,
        "TLS mismatch: see service.tls_mismatch",
    )
    assert (tls_result.check, tls_result.target, tls_result.status) == (
        "service.tls_mismatch",
        "webui",
        Status.CRITICAL,
    )
    assert tls_result.summary == "HTTPS used against a plain-HTTP port: use http://127.0.0.1:8080/"
    assert tls_result.fix == "use http://127.0.0.1:8080/"


def test_down_is_critical_but_a_broken_ssh_path_is_unknown() -> None:
    down = ProbeResult("webui", None, None, "down", "https://127.0.0.1:8080/: connection refused")
    http_result, tls_result = evaluate_services(rules_node(), one_probe(down))
    assert (http_result.status, http_result.summary) == (Status.CRITICAL, down.detail)
    assert (tls_result.status, tls_result.summary) == (Status.UNKNOWN, "cannot tell: down")
    path = ProbeResult("webui", None, None, "error", "administratively prohibited", transport_failed=True)
    http_result, _ = evaluate_services(rules_node(), one_probe(path))
    assert (http_result.status, http_result.summary) == (
        Status.UNKNOWN,
        "cannot probe: administratively prohibited",
    )
    (missing, _) = evaluate_services(rules_node(), ServicesSnapshot("gpu1", datetime.now(UTC)))
    assert (missing.status, missing.summary) == (Status.UNKNOWN, "not probed")


# --- the wire helpers, pure, on what real servers send -----------------------------------------------------


def test_what_other_servers_answer_to_plain_http_on_a_tls_port() -> None:
    # nginx (ngx_http_special_response.c) and Go's net/http, verbatim.
    nginx = (
        b"HTTP/1.1 400 Bad Request\r\nServer: nginx\r\nContent-Type: text/html\r\n\r\n<html>\r\n<head><title>"
        b"400 The plain HTTP request was sent to HTTPS port</title></head>\r\n"
    )
    go = b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"
    assert mentions_plain_to_tls(nginx)
    assert mentions_plain_to_tls(go)
    assert not mentions_plain_to_tls(b"HTTP/1.1 400 Bad Request\r\n\r\nmissing field")
    assert looks_like_tls(bytes.fromhex("15030300020250"))  # a TLS alert record: decode_error
    assert not looks_like_tls(b"HTTP/1.1 200 OK")


def test_a_failed_handshake_is_a_mismatch_only_when_http_answered() -> None:
    wrong_version = ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number")
    wrong_version.reason = "WRONG_VERSION_NUMBER"  # what _ssl sets on the real one
    assert tls_handshake_mismatch(wrong_version, b"HTTP/1.0 400 Bad request version\r\n")
    assert tls_handshake_mismatch(wrong_version, b"<!DOCTYPE html>")
    assert not tls_handshake_mismatch(wrong_version, b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n")
