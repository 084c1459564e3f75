"""PDU (SNMP) and BMC (Redfish) readings against real servers.

Where the data comes from: the SNMP agent is snmpsim serving the real APC rack-PDU walks shipped in the
`snmpsim-data` package (AP8641, AP8932, AP7902B); the expected numbers below are read off those walks
(e.g. AP8641: rPDU2DeviceStatusPower.1 = 121 hundredths of kW, rPDU2PhaseStatusPower.1 = 122, current 65
tenths of A at 201 V). The Redfish service is sushy-tools' sushy-static serving tests/fixtures/redfish/bmc,
a tree written from the DMTF schema (no DMTF mockups offline).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import pytest

from console.collectors.pdu import read_pdu, read_pdus
from console.collectors.redfish import read_redfish
from console.model.inventory import BmcSettings, PduSpec, SnmpV3
from console.text import has_control
from tests.lab.network import _free_port, _SilentListener
from tests.lab.redfish_bmc import RedfishBmc
from tests.lab.snmp_agent import V3_AUTH_KEY, V3_PRIV_KEY, V3_USER, SnmpAgent


def pdu(lab: SnmpAgent, community: str, **kwargs: object) -> PduSpec:
    return PduSpec(community, "127.0.0.1", lab.port, community=community, **kwargs)  # type: ignore[arg-type]


def test_apc_8641_device_and_phase(snmp_lab: SnmpAgent) -> None:
    reading = asyncio.run(read_pdu(pdu(snmp_lab, "apc-8641")))
    assert reading.error is None
    assert reading.watts == 1210.0  # rPDU2DeviceStatusPower 121 x 10 W
    assert reading.name == "pwr-dc01-pdu-rack1-01"  # sysName
    (phase,) = reading.phases
    assert (phase.number, phase.watts, phase.amps, phase.voltage) == (1, 1220.0, 6.5, 201.0)
    assert reading.amps == 6.6  # rPDULoadStatusLoad, the phase-total row (bank 0): 66 tenths of A


def test_apc_8932_and_7902b(snmp_lab: SnmpAgent) -> None:
    readings = asyncio.run(read_pdus([pdu(snmp_lab, "apc-8932"), pdu(snmp_lab, "apc-7902b")]))
    assert readings["apc-8932"].watts == 160.0
    assert readings["apc-8932"].phases[0].amps == 1.4
    # The AP7902B reports -1 ("not supported") for power: unknown, never -10 W or 0 W; its amps still count.
    old = readings["apc-7902b"]
    assert old.error is None
    assert old.watts is None
    assert old.phases[0].watts is None
    assert old.phases[0].amps == 1.6
    assert old.amps == 1.6


def test_older_profile_reads_load_table(snmp_lab: SnmpAgent) -> None:
    reading = asyncio.run(read_pdu(pdu(snmp_lab, "apc-8641", profile="apc-rpdu")))
    assert reading.watts == 1230.0  # rPDUIdentDevicePowerWatts
    assert [(p.number, p.amps) for p in reading.phases] == [(1, 6.6)]


def test_wrong_community_is_unknown_within_deadline(snmp_lab: SnmpAgent) -> None:
    started = time.monotonic()
    reading = asyncio.run(read_pdu(pdu(snmp_lab, "no-such-walk", timeout=1.5)))
    assert time.monotonic() - started < 1.5 + 1.0
    assert reading.watts is None
    assert reading.error is not None
    assert "did not answer within 1.5s" in reading.error


def test_snmpv3_with_keys_from_env(snmp_lab: SnmpAgent, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PDU_AUTH", V3_AUTH_KEY)
    key_file = tmp_key(V3_PRIV_KEY)
    v3 = SnmpV3(V3_USER, "sha", auth_key_env="PDU_AUTH", priv_protocol="aes", priv_key_file=str(key_file),
                context="apc-8932")  # fmt: skip
    reading = asyncio.run(read_pdu(PduSpec("v3", "127.0.0.1", snmp_lab.port, snmpv3=v3, timeout=3)))
    assert reading.error is None
    assert reading.watts == 160.0  # the AP8932 walk, picked by its context name
    wrong = replace(v3, auth_key_env="PDU_WRONG")
    monkeypatch.setenv("PDU_WRONG", "not-the-key-at-all")
    refused = asyncio.run(read_pdu(PduSpec("v3", "127.0.0.1", snmp_lab.port, snmpv3=wrong, timeout=1.5)))
    assert refused.watts is None
    assert refused.error is not None
    monkeypatch.delenv("PDU_AUTH")
    missing = asyncio.run(read_pdu(PduSpec("v3", "127.0.0.1", snmp_lab.port, snmpv3=v3)))
    assert (
        missing.error
        == f"PDU v3 (127.0.0.1:{snmp_lab.port}): SNMPv3 auth key: environment variable PDU_AUTH is not set"
    )


def tmp_key(text: str) -> Path:
    path = Path(tempfile.mkdtemp()) / "key"
    path.write_text(text + "\n", encoding="utf-8")
    return path


def test_hostile_pdu_strings_and_numbers(snmp_lab: SnmpAgent) -> None:
    reading = asyncio.run(read_pdu(pdu(snmp_lab, "hostile-pdu")))
    assert reading.error is None
    assert reading.name is not None
    assert not has_control(reading.name)
    assert "pwned" in reading.name  # shown, made harmless, not dropped
    assert reading.phases[0].watts is None  # "NaN" as a string: unknown
    assert reading.watts == 1210.0


def test_unknown_profile() -> None:
    reading = asyncio.run(read_pdu(PduSpec("x", "127.0.0.1", 9, community="c", profile="acme")))
    assert reading.error is not None
    assert "unknown PDU profile 'acme'" in reading.error


def test_redfish_power_and_environment_metrics(redfish_lab: RedfishBmc) -> None:
    older = asyncio.run(read_redfish("n1", BmcSettings(redfish=redfish_lab.url, chassis="1")))
    assert older.error is None
    assert older.watts == 1640.0
    assert [(c.chassis, c.source) for c in older.chassis] == [("1", "Power")]
    newer = asyncio.run(read_redfish("n2", BmcSettings(redfish=redfish_lab.url, chassis="2")))
    assert newer.watts == 812.0
    assert newer.chassis[0].source == "EnvironmentMetrics"
    both = asyncio.run(read_redfish("n3", BmcSettings(redfish=redfish_lab.url)))
    assert both.watts == 1640.0 + 812.0


def test_redfish_missing_chassis_and_password(
    redfish_lab: RedfishBmc, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = asyncio.run(read_redfish("n", BmcSettings(redfish=redfish_lab.url, chassis="9")))
    assert missing.watts is None
    assert missing.error is not None
    assert "HTTP 404" in missing.error
    settings = BmcSettings(redfish=redfish_lab.url, username="admin", password_env="INFERNO_BMC_PASSWORD")
    monkeypatch.delenv("INFERNO_BMC_PASSWORD", raising=False)
    unset = asyncio.run(read_redfish("n", settings))
    assert unset.error == "BMC password: environment variable INFERNO_BMC_PASSWORD is not set"
    monkeypatch.setenv("INFERNO_BMC_PASSWORD", "s3cret")
    assert asyncio.run(read_redfish("n", settings)).watts == 1640.0 + 812.0


def test_redfish_tls_verified_unless_told(redfish_tls_lab: RedfishBmc) -> None:
    verified = asyncio.run(read_redfish("n", BmcSettings(redfish=redfish_tls_lab.url, timeout=5)))
    assert verified.watts is None
    assert verified.error is not None
    assert "certificate verify failed" in verified.error
    trusted = BmcSettings(redfish=redfish_tls_lab.url, verify_tls=False, chassis="1")
    assert asyncio.run(read_redfish("n", trusted)).watts == 1640.0


def test_redfish_silent_bmc_ends_at_deadline() -> None:
    silent = _SilentListener()
    try:
        started = time.monotonic()
        reading = asyncio.run(
            read_redfish("n", BmcSettings(redfish=f"http://127.0.0.1:{silent.port}", timeout=1))
        )
        assert time.monotonic() - started < 1.0 + 1.0
    finally:
        silent.close()
    assert reading.error == f"BMC 127.0.0.1:{silent.port} did not answer within 1s"


def test_redfish_refused_port_is_unreachable() -> None:
    reading = asyncio.run(
        read_redfish("n", BmcSettings(redfish=f"http://127.0.0.1:{_free_port()}", timeout=2))
    )
    assert reading.watts is None
    assert reading.error is not None
    assert "unreachable" in reading.error


def test_redfish_chassis_that_sum_past_a_float_are_unknown() -> None:
    """Two chassis of a hostile BMC, each a finite reading: their sum is past a float, so unknown."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    tree = {
        "/redfish/v1/Chassis": {"Members": [{"@odata.id": "/redfish/v1/Chassis/A"},
                                            {"@odata.id": "/redfish/v1/Chassis/B"}]},
        "/redfish/v1/Chassis/A": {"Id": "A", "Power": {"@odata.id": "/redfish/v1/Chassis/A/Power"}},
        "/redfish/v1/Chassis/B": {"Id": "B", "Power": {"@odata.id": "/redfish/v1/Chassis/B/Power"}},
        "/redfish/v1/Chassis/A/Power": {"PowerControl": [{"PowerConsumedWatts": 1.7e308}]},
        "/redfish/v1/Chassis/B/Power": {"PowerControl": [{"PowerConsumedWatts": 1.7e308}]},
    }  # fmt: skip

    class Bmc(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(tree.get(self.path)).encode()
            self.send_response(200 if self.path in tree else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:  # silent when well
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Bmc)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        reading = asyncio.run(read_redfish("n", BmcSettings(redfish=url), timeout=5.0))
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=2)
    assert [chassis.watts for chassis in reading.chassis] == [1.7e308, 1.7e308]
    assert reading.watts is None


def test_redfish_redirect_to_another_host_is_not_read_as_the_bmc() -> None:
    """A BMC answering with a redirect to another host: what that host says is not this node's power."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    power = {"PowerControl": [{"PowerConsumedWatts": 999.0}]}
    tree = {
        "/redfish/v1/Chassis/1": {"Id": "1", "Power": {"@odata.id": "/redfish/v1/Chassis/1/Power"}},
        "/redfish/v1/Chassis/1/Power": power,
    }
    servers: list[ThreadingHTTPServer] = []

    class Elsewhere(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(tree.get(self.path)).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:  # silent when well
            pass

    class Redirects(Elsewhere):
        def do_GET(self) -> None:
            self.send_response(302)
            self.send_header("Location", f"http://localhost:{servers[0].server_address[1]}{self.path}")
            self.send_header("Content-Length", "0")
            self.end_headers()

    servers.append(ThreadingHTTPServer(("127.0.0.1", 0), Elsewhere))
    servers.append(ThreadingHTTPServer(("127.0.0.1", 0), Redirects))
    threads = [threading.Thread(target=server.serve_forever, daemon=True) for server in servers]
    for thread in threads:
        thread.start()
    try:
        url = f"http://127.0.0.1:{servers[1].server_address[1]}"
        reading = asyncio.run(read_redfish("n", BmcSettings(redfish=url, chassis="1"), timeout=5.0))
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
    assert reading.watts is None
    assert reading.error is not None
    assert "redirect" in reading.error
