"""The listener table (/proc/net/tcp{,6}) and the bind audit: real captures, live reads over SSH, the rule."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from console.checks.model import Status
from console.checks.service_rules import evaluate_services, planned_services
from console.collectors.listeners import (
    BindFinding,
    Family,
    Listener,
    ListenerParseError,
    audit_binds,
    is_wider,
    parse_proc_net_tcp,
)
from console.collectors.services import ServicesSnapshot, read_listeners
from console.inventory.model import Node, ServiceSpec
from console.transport import SSHTransport
from tests.lab.http_services import LabHttpServer
from tests.lab.models import lab_node_model
from tests.lab.sshd import LabNode, SshLab

CAPTURES = Path(__file__).parent / "fixtures" / "proc-net"
CAPTURED_PORTS: dict[str, int] = json.loads((CAPTURES / "servers.json").read_text())


def captured(name: str) -> str:
    return (CAPTURES / name).read_text()


# --- the parser, on real captures -------------------------------------------------------------------------


def test_ipv4_capture_gives_listeners_only() -> None:
    listeners = parse_proc_net_tcp(captured("tcp"))
    assert Listener("127.0.0.1", CAPTURED_PORTS["127.0.0.1"], "ipv4") in listeners
    assert Listener("0.0.0.0", CAPTURED_PORTS["0.0.0.0"], "ipv4") in listeners
    assert all(listener.family == "ipv4" for listener in listeners)
    # The capture's ESTABLISHED client side (127.0.0.1:54222 -> 40765) and TIME_WAIT rows are not listeners.
    assert 54222 not in {listener.port for listener in listeners}
    # One entry per listening socket, though the 127.0.0.1 server also has an ESTABLISHED row on its port.
    assert [listener.port for listener in listeners].count(CAPTURED_PORTS["127.0.0.1"]) == 1
    assert len(listeners) == 5  # exactly the five LISTEN (0A) rows of the capture


def test_ipv6_capture_decodes_loopback_wildcard_and_v4_mapped() -> None:
    listeners = parse_proc_net_tcp(captured("tcp6"))
    assert listeners == (
        Listener("::ffff:127.0.0.1", CAPTURED_PORTS["::ffff:127.0.0.1"], "ipv6"),
        Listener("::", CAPTURED_PORTS["::"], "ipv6"),
        Listener("::1", CAPTURED_PORTS["::1"], "ipv6"),
    )
    mapped, wildcard, loopback = listeners
    assert (mapped.is_loopback, mapped.is_wildcard) == (True, False)
    assert str(mapped.ip) == "127.0.0.1"  # an IPv4-mapped address counts as the IPv4 one
    assert (wildcard.is_wildcard, wildcard.is_loopback) == (True, False)
    assert loopback.is_loopback


def test_both_tables_in_one_read_as_cat_prints_them() -> None:
    both = parse_proc_net_tcp(captured("tcp") + captured("tcp6"))
    assert set(both) == set(parse_proc_net_tcp(captured("tcp"))) | set(parse_proc_net_tcp(captured("tcp6")))
    assert [listener.port for listener in both] == sorted(listener.port for listener in both)


def test_big_endian_hosts_print_the_words_the_other_way_round() -> None:
    row = "   0: 7F000001:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000   0 0 1 1\n"
    header = (
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    )
    assert parse_proc_net_tcp(header + row, byteorder="big") == (Listener("127.0.0.1", 8080, "ipv4"),)
    assert parse_proc_net_tcp(header + row) == (Listener("1.0.0.127", 8080, "ipv4"),)


def test_text_that_is_not_a_table_is_refused_and_stray_lines_are_skipped() -> None:
    with pytest.raises(ListenerParseError, match="not a /proc/net/tcp table"):
        parse_proc_net_tcp("cat: /proc/net/tcp: No such file or directory\n")
    lines = captured("tcp").splitlines()
    mangled = "\n".join([*lines[:3], "   7: ZZZZ:0050 00000000:0000 0A", "garbage", *lines[3:]])
    assert parse_proc_net_tcp(mangled) == parse_proc_net_tcp(captured("tcp"))


# --- live, through the lab's real sshd --------------------------------------------------------------------


@pytest.fixture(scope="module")
def bound_servers() -> Iterator[dict[str, LabHttpServer]]:
    """Real servers on every kind of address: only ever connected to on loopback."""
    servers: dict[str, LabHttpServer] = {}
    try:
        for bind in ("127.0.0.1", "0.0.0.0", "::1", "::"):
            servers[bind] = LabHttpServer(bind=bind)
        yield servers
    finally:
        for server in servers.values():
            server.close()


async def test_live_read_over_ssh_sees_each_server_on_its_address(
    ssh_lab: SshLab, plain_node: LabNode, bound_servers: dict[str, LabHttpServer]
) -> None:
    transport = SSHTransport(lab_node_model(ssh_lab, plain_node))
    try:
        listeners, error = await read_listeners(transport)
    finally:
        await transport.close()
    assert error is None
    by_port = {listener.port: listener for listener in listeners}
    assert by_port[bound_servers["127.0.0.1"].port] == Listener(
        "127.0.0.1", bound_servers["127.0.0.1"].port, "ipv4"
    )
    assert by_port[bound_servers["0.0.0.0"].port] == Listener(
        "0.0.0.0", bound_servers["0.0.0.0"].port, "ipv4"
    )
    assert by_port[bound_servers["::1"].port] == Listener("::1", bound_servers["::1"].port, "ipv6")
    assert by_port[bound_servers["::"].port] == Listener("::", bound_servers["::"].port, "ipv6")
    assert Listener("127.0.0.1", plain_node.port, "ipv4") in listeners  # the lab node's own sshd


async def test_live_bind_audit_flags_the_wildcard_server_only(
    ssh_lab: SshLab, plain_node: LabNode, bound_servers: dict[str, LabHttpServer]
) -> None:
    services = (
        ServiceSpec("tight", bound_servers["127.0.0.1"].port, bind="127.0.0.1"),
        ServiceSpec("open", bound_servers["0.0.0.0"].port, bind="127.0.0.1"),
        ServiceSpec("open6", bound_servers["::"].port, bind="::1"),
        ServiceSpec("tight6", bound_servers["::1"].port, bind="::1"),
    )
    node = lab_node_model(ssh_lab, plain_node, services=services)
    transport = SSHTransport(node)
    try:
        listeners, error = await read_listeners(transport)
    finally:
        await transport.close()
    assert error is None
    verdicts = {finding.service: finding.verdict for finding in audit_binds(services, listeners)}
    assert verdicts == {"tight": "ok", "open": "exposed", "open6": "exposed", "tight6": "ok"}


# --- the audit, pure --------------------------------------------------------------------------------------

PORT = 8080


def audit_one(
    bind: str, listeners: tuple[Listener, ...], published: tuple[tuple[str, str, int], ...] = ()
) -> BindFinding:
    (finding,) = audit_binds(
        (ServiceSpec("webui", PORT, container="webui", bind=bind),), listeners, published
    )
    return finding


@pytest.mark.parametrize(
    ("bind", "address", "verdict"),
    [
        ("127.0.0.1", "127.0.0.1", "ok"),
        ("127.0.0.1", "::1", "ok"),  # still loopback
        ("127.0.0.1", "::ffff:127.0.0.1", "ok"),
        ("::1", "127.0.0.1", "ok"),
        ("127.0.0.1", "0.0.0.0", "exposed"),
        ("127.0.0.1", "::", "exposed"),
        ("::1", "::", "exposed"),
        ("127.0.0.1", "192.168.1.20", "exposed"),
        ("192.168.1.20", "192.168.1.20", "ok"),
        ("192.168.1.20", "127.0.0.1", "ok"),  # narrower than asked
        ("192.168.1.20", "10.0.0.5", "exposed"),  # another interface
        ("192.168.1.20", "0.0.0.0", "exposed"),
        ("0.0.0.0", "0.0.0.0", "ok"),
        ("0.0.0.0", "::", "ok"),
    ],
)
def test_audit_against_the_listener_table(bind: str, address: str, verdict: str) -> None:
    family: Family = "ipv6" if ":" in address else "ipv4"
    finding = audit_one(bind, (Listener(address, PORT, family), Listener("0.0.0.0", 22, "ipv4")))
    assert finding.verdict == verdict
    assert finding.listening == (address,)
    assert finding.exposed == ((address,) if verdict == "exposed" else ())
    assert is_wider(address, bind) is (verdict == "exposed")


def test_audit_nothing_listening_and_other_ports_ignored() -> None:
    finding = audit_one("127.0.0.1", (Listener("0.0.0.0", PORT + 1, "ipv4"),))
    assert (finding.verdict, finding.detail) == ("not_listening", f"nothing listening on {PORT}")


def test_audit_of_docker_published_ports_without_any_listener() -> None:
    # Docker's DNAT publishes without a listening socket when docker-proxy is off: only its own word counts.
    for host_ip in ("0.0.0.0", "", "::"):
        finding = audit_one("127.0.0.1", (), (("/webui", host_ip, PORT),))
        assert finding.verdict == "exposed", host_ip
        assert finding.via_published
        assert finding.detail == (
            f"published by webui on {host_ip or '0.0.0.0'}; inventory says 127.0.0.1:{PORT}"
        )
    tight = audit_one("127.0.0.1", (), (("webui", "127.0.0.1", PORT), ("other", "0.0.0.0", PORT + 1)))
    assert (tight.verdict, tight.published) == ("ok", ("webui on 127.0.0.1",))


def test_audit_mixes_both_sources_and_skips_services_without_bind() -> None:
    listeners = (Listener("127.0.0.1", PORT, "ipv4"),)
    finding = audit_one("127.0.0.1", listeners, (("webui", "0.0.0.0", PORT),))
    assert (finding.verdict, finding.exposed, finding.listening) == ("exposed", ("0.0.0.0",), ("127.0.0.1",))
    assert audit_binds((ServiceSpec("free", PORT),), listeners) == ()


# --- the service.bind rule --------------------------------------------------------------------------------


def bind_node(*services: ServiceSpec) -> Node:
    return Node("gpu1", "127.0.0.1", services=services)


def snapshot(listeners: tuple[Listener, ...] = (), listeners_error: str | None = None) -> ServicesSnapshot:
    return ServicesSnapshot("gpu1", datetime.now(UTC), listeners=listeners, listeners_error=listeners_error)


def test_bind_rule_ok_critical_and_warning() -> None:
    node = bind_node(
        ServiceSpec("comfyui", 8188, bind="127.0.0.1"),
        ServiceSpec("webui", 3000, container="open-webui", bind="127.0.0.1"),
        ServiceSpec("ollama", 11434, bind="127.0.0.1"),
        ServiceSpec("free", 9999),
    )
    assert planned_services(node) == (
        ("service.bind", "comfyui"),
        ("service.bind", "webui"),
        ("service.bind", "ollama"),
    )
    listeners = (Listener("127.0.0.1", 8188, "ipv4"), Listener("0.0.0.0", 11434, "ipv4"))
    comfy, webui, ollama = evaluate_services(node, snapshot(listeners), published=(("open-webui", "", 3000),))
    assert (comfy.check, comfy.target, comfy.status) == ("service.bind", "comfyui", Status.OK)
    assert comfy.summary == "127.0.0.1:8188 (inventory: 127.0.0.1)"
    assert (webui.status, webui.fix) == (
        Status.CRITICAL,
        "publish as 127.0.0.1:3000:3000 in compose (ports:)",
    )
    assert webui.summary == "published by open-webui on 0.0.0.0; inventory says 127.0.0.1:3000"
    assert (ollama.status, ollama.fix) == (Status.CRITICAL, "make it listen on 127.0.0.1:11434 only")
    assert ollama.summary == "listening on 0.0.0.0:11434; inventory says 127.0.0.1:11434"

    (quiet,) = evaluate_services(bind_node(ServiceSpec("ollama", 11434, bind="127.0.0.1")), snapshot())
    assert (quiet.status, quiet.summary) == (Status.WARNING, "nothing listening on 11434")


def test_bind_rule_without_a_listener_table() -> None:
    node = bind_node(ServiceSpec("webui", 3000, container="open-webui", bind="::1"))
    (unread,) = evaluate_services(node, snapshot(listeners_error="cat: /proc/net/tcp: Permission denied"))
    assert unread.status is Status.UNKNOWN
    assert unread.summary == "cannot read listeners: cat: /proc/net/tcp: Permission denied"
    # Docker's published ports alone still prove an exposure.
    (wide,) = evaluate_services(node, snapshot(listeners_error="x"), published=(("open-webui", "::", 3000),))
    assert (wide.status, wide.fix) == (Status.CRITICAL, "publish as [::1]:3000:3000 in compose (ports:)")
    (none,) = evaluate_services(node, None)
    assert (none.check, none.target, none.status) == ("service.bind", "webui", Status.UNKNOWN)
