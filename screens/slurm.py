"""Slurm: the cluster read through the inventory's `slurm.via` node: its nodes (state, reason, who and when,
GPUs Slurm configures and uses beside the GPUs the node's own poll reports, which job holds which GPU) and
its queue (running jobs, pending ones with their reason). `d` drains the node under the cursor with a
reason, `u` resumes it, `x` cancels the job under the cursor: each asked first, audited, run on the via node.

The app polls the via node (its slurm section reads the cluster) and the member nodes (their GPUs) while
this screen shows. Levels come from the Slurm checks (console.checks.slurm_rules), as `--check` judges.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import partial
from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input, Label

from console.actions import ActionError, ActionResult
from console.actions.slurm import cancel_job, drain_node, resume_node
from console.checks.slurm_rules import node_status, node_summary, stuck_jobs
from console.collectors.slurm import forget
from console.model.checks import Status
from console.model.inventory import Node
from console.model.slurm import SlurmSnapshot
from screens.cluster_base import ViaClusterScreen
from screens.confirm import ConfirmScreen
from widgets.safe import safe_text
from widgets.slurm_tables import SlurmNodeTable, SlurmQueueTable
from widgets.status import status_text

if TYPE_CHECKING:
    from screens.app import OpsConsoleApp


def via_nodes(nodes: Iterable[Node]) -> list[Node]:
    """The nodes that read a Slurm cluster (the loader gave them its members)."""
    return [node for node in nodes if node.slurm is not None and node.slurm.members]


class ReasonScreen(ModalScreen[str | None]):
    """The reason a drain needs (Slurm refuses a drain without one); Enter gives it, Esc cancels."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    ReasonScreen { align: center middle; }
    ReasonScreen > Vertical {
        width: 70; height: auto; border: thick $warning; background: $surface; padding: 1 2;
    }
    """

    def __init__(self, node: str) -> None:
        super().__init__()
        self.node = node

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(safe_text(Text(f"Drain {self.node}: why? (Enter: next, Esc: cancel)")))
            yield Input(placeholder="e.g. GPU 3 ECC errors, ticket 1234", max_length=200, id="slurm-reason")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class SlurmScreen(ViaClusterScreen):
    CSS_PATH = "slurm.tcss"
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("d", "drain", "Drain node"),
        Binding("u", "resume", "Resume node"),
        Binding("x", "cancel_job", "Cancel job"),
        Binding("enter", "open", "Open node"),
    ]
    PREFIX = "slurm"
    NODE_TABLE = SlurmNodeTable
    LOWER_TABLE = SlurmQueueTable
    LOWER = "queue"

    def __init__(self) -> None:
        super().__init__()
        self.action_note: Text | None = None

    def find_via(self, nodes: Iterable[Node]) -> Node | None:
        found = via_nodes(nodes)
        return found[0] if found else None

    def member_names(self, via: Node) -> Sequence[str]:
        return [member.name for member in via.slurm.members] if via.slurm is not None else ()

    def subtitle(self, via: Node | None) -> str:
        return f"the Slurm cluster, read through {via.name}" if via else "no Slurm in this inventory"

    @property
    def snapshot(self) -> SlurmSnapshot | None:
        via = self.via
        latest = self.session.latest.get(via.name) if via is not None else None
        return latest.slurm if latest is not None else None

    # --- drawing -------------------------------------------------------------------------------------------

    def _reported(self, snap: SlurmSnapshot) -> dict[str, int | None]:
        """Slurm node name -> GPUs the node's own poll reports (None: not polled or no answer)."""
        out: dict[str, int | None] = {}
        for member in snap.members:
            latest = self.session.latest.get(member.name)
            gpu = latest.gpu if latest is not None else None
            out[member.slurm_name] = len(gpu.gpus) if gpu is not None and gpu.status == "ok" else None
        return out

    def _show(self) -> None:
        via, snap = self.via, self.snapshot
        if via is None or snap is None:
            waiting = (
                "no node in this inventory has slurm: {via: …}"
                if via is None
                else f"reading Slurm on {via.name}…"
            )
            self.show_waiting(waiting)
            return
        levels = {node.name: node_status(node) for node in snap.nodes}
        self.query_one(SlurmNodeTable).show(snap, levels, self._reported(snap))
        stuck = frozenset(job.job_id for _, job in stuck_jobs(via, snap))
        self.query_one(SlurmQueueTable).show(snap, stuck)
        self.set_text("#slurm-summary", self._summary(via, snap, levels))
        title = f"Queue: {len(snap.running())} running, {len(snap.pending())} pending"
        if stuck:
            title += f", {len(stuck)} waiting past {via.thresholds.slurm_pending_minutes:g} min"
        self.set_text("#slurm-queue-title", Text(title, style="bold"))
        self._show_detail()

    def _summary(self, via: Node, snap: SlurmSnapshot, levels: dict[str, Status]) -> Text:
        parts: list[Text] = []
        if snap.controller is True:
            parts.append(Text("slurmctld UP", style="green"))
        elif snap.controller is False:
            parts.append(Text("slurmctld DOWN", style="bold red"))
        partitions = len(snap.partitions)
        parts.append(
            Text(f"{len(snap.nodes)} nodes in {partitions} partition{'s' if partitions != 1 else ''}")
        )
        bad = sum(1 for level in levels.values() if level is not Status.OK)
        if bad:
            parts.append(Text(f"{bad} need a look", style="bold yellow"))
        source = snap.parser or snap.source or "?"
        parts.append(Text(f"via {via.name} · Slurm {snap.version or '?'} · {source}", style="dim"))
        if snap.error:
            parts.append(Text(snap.error, style="bold magenta"))
        if self.ops_app.paused:
            parts.insert(0, Text("⏸ PAUSED", style="bold reverse"))
        return Text("  ·  ").join(parts)

    def _show_detail(self) -> None:
        if self.action_note is not None:
            self.set_text("#slurm-detail", self.action_note)
            return
        snap = self.snapshot
        key = self._cursor_key()
        text = Text("d drain · u resume (node) · x cancel (job) · Tab: nodes/queue", style="dim")
        if snap is not None and key.startswith("node|"):
            node = snap.node(key.split("|", 1)[1])
            if node is not None:
                # The space ends the status's run: SVG viewers drop a run's leading spaces.
                status = status_text(node_status(node))
                status.append(" ")
                text = Text.assemble(status, f"{node.name}: {node_summary(node)}")
        elif snap is not None and key.startswith("job|"):
            job = next((j for j in snap.jobs if j.job_id == key.split("|", 1)[1]), None)
            if job is not None:
                gpus = "; ".join(f"{n} GPU {','.join(map(str, ix))}" for n, ix in job.gpu_index)
                said = f"job {job.job_id} {job.name} ({job.user or '?'}): {job.state.lower()}"
                text = Text(
                    said + (f" · {gpus}" if gpus else "") + (f" · {job.reason}" if job.reason else "")
                )
        self.set_text("#slurm-detail", text)

    def _cursor_key(self) -> str:
        focused = self.focused
        table = (
            focused
            if isinstance(focused, (SlurmNodeTable, SlurmQueueTable))
            else self.query_one(SlurmNodeTable)
        )
        return table.cursor_key or ""

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.action_note = None
        self._show_detail()

    def on_descendant_focus(self) -> None:
        self._show_detail()

    # --- actions -------------------------------------------------------------------------------------------

    def _selected_node(self) -> str | None:
        key = self.query_one(SlurmNodeTable).cursor_key or ""
        return key.split("|", 1)[1] if key.startswith("node|") else None

    def _selected_job(self) -> str | None:
        key = self.query_one(SlurmQueueTable).cursor_key or ""
        return key.split("|", 1)[1] if key.startswith("job|") else None

    def action_drain(self) -> None:
        name = self._selected_node()
        if name is not None and self.via is not None:
            self.app.push_screen(ReasonScreen(name), partial(self._reason_given, name))

    def _reason_given(self, name: str, reason: str | None) -> None:
        if not reason or self.via is None:
            return
        question = ConfirmScreen(
            Text(f"Drain {name}?"),
            Text(
                f"scontrol update NodeName={name} State=DRAIN Reason={reason!r}, on {self.via.name}. "
                "Running jobs finish; Slurm starts no new ones there until it is resumed."
            ),
            confirm="Drain",
        )
        self.app.push_screen(question, partial(self._confirmed, "drain", name, reason))

    def action_resume(self) -> None:
        name = self._selected_node()
        if name is not None and self.via is not None:
            question = ConfirmScreen(
                Text(f"Resume {name}?"),
                Text(
                    f"scontrol update NodeName={name} State=RESUME, on {self.via.name}: "
                    "Slurm schedules jobs there again and clears the reason."
                ),
                confirm="Resume",
            )
            self.app.push_screen(question, partial(self._confirmed, "resume", name, ""))

    def action_cancel_job(self) -> None:
        job = self._selected_job()
        if job is not None and self.via is not None:
            question = ConfirmScreen(
                Text(f"Cancel job {job}?"),
                Text(f"scancel {job}, on {self.via.name}: the job's processes are signalled and it ends."),
                confirm="Cancel job",
            )
            self.app.push_screen(question, partial(self._confirmed, "cancel", job, ""))

    def _confirmed(self, action: str, target: str, reason: str, answer: bool | None) -> None:
        if answer is True:
            self.action_note = Text(f"{action} {target}: running on the via node…", style="yellow")
            self._show_detail()
            self.run_slurm_action(action, target, reason)

    @work(group="slurm-action", exclusive=False, exit_on_error=False)
    async def run_slurm_action(self, action: str, target: str, reason: str) -> None:
        via = self.via
        transport = self.session.transports.get(via.name) if via is not None else None
        if via is None or transport is None:
            self._done(
                ActionResult("", f"slurm.{action}", target, "", False, "no live connection to the via node")
            )
            return
        audit = self.session.audit
        try:
            if action == "drain":
                result = await drain_node(transport, via, target, reason, audit=audit, confirmed=True)
            elif action == "resume":
                result = await resume_node(transport, via, target, audit=audit, confirmed=True)
            else:
                result = await cancel_job(transport, via, target, audit=audit, confirmed=True)
        except ActionError as exc:
            result = ActionResult(via.name, f"slurm.{action}", target, "", False, str(exc))
        self._done(result)
        forget(via.name)  # show the change now, not at the next scheduled read of the cluster
        self.ops_app.poll_node(via.name, force=True)

    def _done(self, result: ActionResult) -> None:
        verdict = "✔ ok" if result.ok else "✖ FAILED"
        said = f"{result.action} {result.target}: {verdict}: {result.detail}"
        self.action_note = Text(said, style="green" if result.ok else "bold red")
        self.notify(
            safe_text(Text(said)).plain, severity="information" if result.ok else "error", markup=False
        )
        self._show_detail()

    def action_open(self) -> None:
        name = self._selected_node()
        snap = self.snapshot
        member = snap.member(name) if snap is not None and name is not None else None
        if member is not None and member.name in self.ops_app.nodes:
            self.ops_app.open_node(member.name)


def open_slurm(app: OpsConsoleApp) -> None:
    """The Slurm screen over the fleet screen (`J` there, and the palette)."""
    app.action_open_fleet()
    app.push_screen(SlurmScreen())
