"""The power section: a node's BMC power, by Redfish from the workstation or `ipmitool dcmi` on the node.

Racks and PDUs belong to no node: the checks runner reads the PDUs beside the node polls and judges each rack
with console.checks.power_rules (power.pdu, power.rack) from the PDU readings and the nodes' snapshots.
"""

from __future__ import annotations

from datetime import UTC, datetime

from console.checks.power_rules import evaluate_bmc, planned_bmc
from console.collectors.redfish import DCMI_COMMAND, parse_dcmi, read_redfish
from console.inventory.power import BMC
from console.model.checks import CheckResult
from console.model.inventory import Node
from console.model.node import NodeSnapshot
from console.model.power import BmcPower
from console.sections.registry import Section
from console.transport.base import Transport, TransportError


def _wanted(node: Node) -> bool:
    return node.bmc is not None


async def collect_power(transport: Transport, node: Node) -> BmcPower:
    """The node's BMC power; never raises for BMC or node trouble (the reason is in `error`)."""
    bmc = node.bmc
    assert bmc is not None
    if bmc.redfish is not None:
        # The poll's section deadline is the node's command timeout: the BMC's own may be shorter.
        return await read_redfish(node.name, bmc, timeout=node.ssh.command_timeout)
    try:
        result = await transport.run(DCMI_COMMAND, timeout=min(bmc.timeout, node.ssh.command_timeout))
    except TransportError as exc:
        return BmcPower(node.name, datetime.now(UTC), via="ipmi dcmi", error=f"ipmitool dcmi: {exc}")
    return parse_dcmi(node.name, result.stdout, result.stderr, result.exit_status)


def _evaluate(node: Node, snapshot: NodeSnapshot) -> tuple[CheckResult, ...]:
    return evaluate_bmc(node, snapshot)


async def _power_without_node(node: Node) -> BmcPower | None:
    """Redfish is read from the workstation: the BMC answers whether or not the node's SSH does (a hung or
    powered-off host is told apart by its watts). IPMI DCMI runs on the node itself: None."""
    bmc = node.bmc
    if bmc is None or bmc.redfish is None:
        return None
    return await read_redfish(node.name, bmc, timeout=node.ssh.command_timeout)


def _timed_out(node: Node, message: str) -> BmcPower:
    return BmcPower(node.name, datetime.now(UTC), error=f"BMC: {message}")


POWER = Section(
    "power",
    _wanted,
    planned_bmc,
    _evaluate,
    collect_power,
    read_only_commands=(DCMI_COMMAND,),
    timed_out=_timed_out,
    settings=(BMC,),
    without_node=_power_without_node,
)
