"""Messages the console's workers post: results come back as data, never as widget calls from a worker."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from console.actions import ActionResult
from console.model.checks import CheckResult
from console.model.node import NodeSnapshot


@dataclass
class NodePolled(Message):
    """A poll of one node finished (successfully or not: the snapshot says)."""

    snapshot: NodeSnapshot

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, NodePolled) and message.snapshot.node == self.snapshot.node


@dataclass
class ActionDone(Message):
    """A node action (a container restart) finished; the result says whether it worked."""

    result: ActionResult


@dataclass
class FleetChecksAnswered(Message):
    """The fleet's Prometheus checks (targets, alerts) were asked; these are the results."""

    results: tuple[CheckResult, ...]


class LogLinesArrived(Message):
    """New log lines are waiting in the log screen's buffer; a flood coalesces into one message."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, LogLinesArrived)
