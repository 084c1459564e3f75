"""pytest fixtures of the power lab: one real SNMP agent (snmpsim, real APC walks) and one real Redfish
service (sushy-static) per session, plain HTTP and HTTPS. Loaded by tests/conftest.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.lab.availability import lab_unavailable
from tests.lab.common import LabError
from tests.lab.redfish_bmc import RedfishBmc
from tests.lab.snmp_agent import SnmpAgent, walk_dir


def hostile_walk() -> str:
    """The real AP8641 walk with a sysName that carries an OSC title, a bell, markup and a newline, and a
    phase power that is not a number: served by the real agent under the community `hostile-pdu`."""
    evil = b"\x1b]0;pwned\x07PDU\n[b]rack[/b]\x1b[2J".hex()
    lines = []
    for line in (walk_dir() / "apc-8641.snmprec").read_text(encoding="ascii").splitlines():
        if line.startswith("1.3.6.1.2.1.1.5.0|"):
            line = f"1.3.6.1.2.1.1.5.0|4x|{evil}"
        elif line.startswith("1.3.6.1.4.1.318.1.1.26.6.3.1.7.1|"):  # rPDU2PhaseStatusPower.1
            line = "1.3.6.1.4.1.318.1.1.26.6.3.1.7.1|4|NaN"
        lines.append(line)
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="session")
def snmp_lab() -> Iterator[SnmpAgent]:
    try:
        agent = SnmpAgent({"hostile-pdu": hostile_walk()})
        agent.start()
    except (LabError, OSError) as exc:
        lab_unavailable("the SNMP agent (snmpsim)", exc)
    try:
        yield agent
    finally:
        agent.stop()


@pytest.fixture(scope="session")
def redfish_lab() -> Iterator[RedfishBmc]:
    try:
        bmc = RedfishBmc()
        bmc.start()
    except (LabError, OSError) as exc:
        lab_unavailable("the Redfish service (sushy-static)", exc)
    try:
        yield bmc
    finally:
        bmc.stop()


@pytest.fixture(scope="session")
def redfish_tls_lab() -> Iterator[RedfishBmc]:
    try:
        bmc = RedfishBmc(tls=True)
        bmc.start()
    except (LabError, OSError, Exception) as exc:  # openssl missing or failing: the part cannot run
        lab_unavailable("the Redfish service over HTTPS (sushy-static)", exc)
    try:
        yield bmc
    finally:
        bmc.stop()
