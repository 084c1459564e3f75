"""Hostile text from real parts: a container's labels and command in a real dockerd, a service's status line
and certificate through a real sshd, a node's basics report, a GPU exporter's labels. Whatever they carry,
the snapshots hold only clean text (console/text.py) and finite numbers.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import ssl
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from console.collectors.basics import MARK, parse_report
from console.collectors.docker import close_docker_clients, collect_docker
from console.collectors.docker_model import MAX_CONTAINERS, parse_container, parse_ports
from console.collectors.gpu_prometheus import map_gpu_samples
from console.collectors.prometheus import Sample
from console.collectors.services import probe_service
from console.inventory.model import DockerSettings, HttpProbe, Node, ServiceSpec
from console.transport import SSHTransport
from tests.hostile import BEL, HOSTILE, MARKUP, OSC_CLIPBOARD, OSC_TITLE, WIPE, assert_clean
from tests.lab.docker_fixtures import IMAGE, DockerLab
from tests.lab.models import lab_node_model
from tests.lab.sshd import LabNode, SshLab

# --- Docker: a real container with hostile labels and command -----------------------------------------------


async def test_a_containers_labels_and_command_reach_the_snapshot_only_as_clean_text(
    docker_lab: DockerLab, ssh_lab: SshLab, plain_node: LabNode
) -> None:
    name = f"hostile-{uuid.uuid4().hex[:8]}"
    labels = (
        "-l", f"com.docker.compose.project={OSC_TITLE}lab",
        "-l", f"com.docker.compose.service={HOSTILE}\nforged line",
        "-l", f"{WIPE}key{BEL}={OSC_CLIPBOARD}",
    )  # fmt: skip
    # The command's $0 is the hostile string: the container runs, and its Command shows it.
    await asyncio.to_thread(
        docker_lab.run_container, name, "--init", *labels, IMAGE, "sh", "-c", "sleep 3600", HOSTILE
    )
    node = lab_node_model(ssh_lab, plain_node, docker=DockerSettings(socket=docker_lab.socket))
    transport = SSHTransport(node)
    try:
        snapshot = await collect_docker(transport, node)
    finally:
        await close_docker_clients(transport)
        await transport.close()
        await asyncio.to_thread(docker_lab.remove, name)
    assert snapshot.error is None
    assert_clean(snapshot)
    container = snapshot.container(name)
    assert container is not None
    assert container.state == "running"
    assert container.compose_project == "\\x1b]0;pwned\\x07lab"
    assert container.compose_service is not None
    assert container.compose_service.endswith(MARKUP + "\\nforged line")  # one line, markup kept as text
    assert container.command is not None
    assert container.command.startswith("sh -c 'sleep 3600' ")
    assert "\\x1b[2J" in container.command
    assert ("\\x1b[2Jkey\\x07", "\\x1b]52;c;Y3VybCBldmlsIHwgc2g=\\x07") in container.labels


def test_a_list_answer_with_odd_types_is_read_not_raised() -> None:
    entry = {
        "Id": "f" * 64,
        "Names": ["/ok"],
        "Image": f"img{WIPE}",
        "State": "running",
        "Status": f"Up 1 second{OSC_TITLE}",
        "Labels": ["not", "a", "mapping"],
        "Ports": [{"PublicPort": "8080", "IP": "0.0.0.0"}, {"PublicPort": 80, "PrivatePort": 80, "IP": WIPE}],
    }
    container = parse_container(entry)
    assert_clean(container)
    assert container.labels == ()
    assert [port.host_port for port in container.ports] == [80]
    assert parse_ports([{"PublicPort": True}, {"PublicPort": 70000}]) == ()
    assert MAX_CONTAINERS >= 1000


# --- a service probe: a real HTTP/HTTPS server behind the node's sshd ------------------------------------


def _certificate(directory: Path, common_name: str) -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context


async def _hostile_http(context: ssl.SSLContext | None) -> AsyncIterator[int]:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            reason = f"OK {HOSTILE}".encode()
            writer.write(b"HTTP/1.1 200 " + reason + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=context)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


@pytest.fixture
async def hostile_http() -> AsyncIterator[int]:
    async for port in _hostile_http(None):
        yield port


@pytest.fixture
async def hostile_https(tmp_path: Path) -> AsyncIterator[int]:
    async for port in _hostile_http(_certificate(tmp_path, f"lab{OSC_TITLE}{MARKUP}")):
        yield port


async def test_a_services_status_line_and_certificate_are_kept_as_clean_text(
    ssh_lab: SshLab, plain_node: LabNode, hostile_http: int, hostile_https: int
) -> None:
    transport = SSHTransport(lab_node_model(ssh_lab, plain_node))
    try:
        plain = await probe_service(transport, ServiceSpec("plain", hostile_http, http=HttpProbe()))
        tls = await probe_service(
            transport, ServiceSpec("tls", hostile_https, http=HttpProbe(scheme="https"))
        )
    finally:
        await transport.close()
    for result in (plain, tls):
        assert result.outcome == "ok", result.detail
        assert_clean(result)
        assert result.detail.startswith("HTTP 200 OK \\x1b]0;pwned\\x07")
    assert tls.tls_subject is not None
    assert tls.tls_subject == "CN=lab\\x1b]0\\;pwned\\x07" + MARKUP  # RFC 4514 escapes the ";"


# --- basics and GPU series: pure parsers fed what a node or exporter can say -----------------------------


def test_a_basics_report_with_hostile_names_and_non_finite_numbers() -> None:
    line = (
        f"{MARK} -|nan inf 0.5 1/2 3|inf 1.0|cpu  nan 1 2 3|inf 5|6.1.0{WIPE}|host|with{OSC_TITLE}pipe|0-3|"
        " MemTotal:100 MemAvailable:50 SwapTotal:0 SwapFree:0"
    )
    basics = parse_report("n", line, taken_at=datetime.now(UTC))
    assert basics.error is None
    assert_clean(basics)
    assert basics.load is None  # two of three loads are not numbers: no load rather than a wrong one
    assert basics.uptime_s is None
    assert (basics.cpu_ticks, basics.net_bytes) == (None, None)  # counters that are not numbers: unknown
    assert basics.kernel == "6.1.0\\x1b[2J"
    assert basics.hostname == "host|with\\x1b]0;pwned\\x07pipe"  # a "|" in the name shifts nothing
    assert (basics.cpus, basics.mem_total_kib) == (4, 100)


def test_gpu_series_labels_and_values_from_an_exporter() -> None:
    labels = (
        ("__name__", "DCGM_FI_DEV_GPU_TEMP"),
        ("gpu", "0"),
        ("UUID", f"GPU-{WIPE}"),
        ("modelName", HOSTILE),
        ("Hostname", "n"),
    )
    samples = [Sample(labels, math.nan, 0.0), Sample(labels, None, 0.0)]
    flood = [
        Sample(
            (("__name__", "DCGM_FI_DEV_GPU_TEMP"), ("gpu", str(i)), ("UUID", f"u{i}"), ("Hostname", "n")),
            1,
            0,
        )
        for i in range(1, 200)
    ]
    snapshot = map_gpu_samples(samples + flood, [Node("n", "n")])["n"]
    assert_clean(snapshot)
    assert snapshot.gpus[0].temperature_c is None
    assert snapshot.gpus[0].name.endswith(MARKUP)
    assert len(snapshot.gpus) == 64
