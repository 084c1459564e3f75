"""The troubleshooting catalogue: each entry a detector, an explanation and a fix (a wizard like the
bring-up: plan, dry-run, per-step confirmation, audit). `run_fix` detects, fixes what it found, and detects
again; `--check` results name their entry as `fix: "troubleshoot NAME"` through `console.checks.fixes`, where
this module registers each entry under the check ids it repairs when it is imported.

| entry | symptom |
| --- | --- |
| tls-mismatch | "wrong version number": https:// against a plain-HTTP service (or the reverse) |
| comfy-mnt-ownership | "Directory /comfy/mnt owned by unexpected user/group": sub-mounts or host ownership |
| browser-tunnel | the browser fails, curl on the node works: the port is on localhost by design |
| docker-permission | docker: permission denied: the SSH user is not in the socket's group |
| nvidia-runtime | Docker lists no `nvidia` runtime: the NVIDIA Container Toolkit is missing or unregistered |
| restart-loop | a container restarts forever: its last log lines, and the fix for a known cause |
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from console.checks.docker_rules import FIX_GROUP, FIX_LOGS
from console.checks.fixes import Applies, fix_for, name_fix, register_fix, troubleshoot
from console.checks.model import CheckResult
from console.wizards.engine import Confirm, NodeContext, Wizard, WizardReport, run_wizard
from console.wizards.fix_model import Finding, Fix, FixInput
from console.wizards.fixes_docker import DOCKER_PERMISSION, NVIDIA_RUNTIME
from console.wizards.fixes_network import BROWSER_TUNNEL, TLS_MISMATCH
from console.wizards.fixes_stack import COMFY_MNT_OWNERSHIP, RESTART_LOOP

CATALOGUE: dict[str, Fix] = {
    fix.name: fix
    for fix in (
        TLS_MISMATCH,
        COMFY_MNT_OWNERSHIP,
        BROWSER_TUNNEL,
        DOCKER_PERMISSION,
        NVIDIA_RUNTIME,
        RESTART_LOOP,
    )
}


@dataclass(frozen=True, slots=True)
class FixRun:
    before: Finding
    report: WizardReport | None  # None: nothing to fix
    after: Finding | None  # detected again after a successful apply
    redetected: bool = True  # False for a workaround (a tunnel): the report alone says whether it worked

    @property
    def ok(self) -> bool:
        if self.report is None:
            return True
        if self.report.dry_run or not self.redetected:
            return self.report.ok
        return self.report.ok and self.after is not None and not self.after.found


async def run_fix(
    name: str,
    ctx: NodeContext,
    inp: FixInput,
    *,
    dry_run: bool = False,
    yes: bool = False,
    confirm: Confirm | None = None,
    before: Finding | None = None,
) -> FixRun:
    """Detect (unless `before` is what a detection just found); when the fault is there, run the entry's
    wizard; then detect again. Raises KeyError for an unknown entry and StepError when the node cannot even
    be examined."""
    fix = CATALOGUE[name]
    before = before or await fix.detect(ctx, inp)
    if before.target is not None and inp.container is None:  # detect again what was fixed, not anew
        inp = replace(inp, container=before.target)
    if not before.found:
        return FixRun(before, None, None)
    report = await run_wizard(fix.wizard(inp, before), ctx, dry_run=dry_run, yes=yes, confirm=confirm)
    after = await fix.detect(ctx, inp) if report.ok and not dry_run and fix.repairs_node else None
    return FixRun(before, report, after, fix.repairs_node)


async def detect_for_screen(name: str, ctx: NodeContext, inp: FixInput) -> tuple[Finding, Wizard | None]:
    """What a fix screen shows: the finding, and the entry's wizard when there is something to fix."""
    fix = CATALOGUE[name]
    finding = await fix.detect(ctx, inp)
    return finding, fix.wizard(inp, finding) if finding.found else None


# Checks an entry repairs only in part, told apart by what the rule decided (its advice for that cause),
# never by the summary's words.
_APPLIES: dict[tuple[str, str], Applies] = {
    # permission denied on the socket, not a daemon that is down or a socket that is missing
    ("docker.engine", DOCKER_PERMISSION.name): lambda result: result.fix == FIX_GROUP,
    # a container in state "restarting" (the rule sends to its logs), not one that exited or is missing
    ("container.running", RESTART_LOOP.name): lambda result: (
        result.target is not None and result.fix == FIX_LOGS.format(name=result.target)
    ),
}


def register_catalogue() -> None:
    """Register every entry under the checks it repairs (done at import; again is harmless)."""
    for fix in CATALOGUE.values():
        for check in fix.checks:
            register_fix(check, fix.name, _APPLIES.get((check, fix.name)))


register_catalogue()


def entry_for(result: CheckResult) -> str | None:
    """The catalogue entry that repairs a failing check result, when there is one."""
    return fix_for(result)


__all__ = [
    "CATALOGUE",
    "FixRun",
    "detect_for_screen",
    "entry_for",
    "name_fix",
    "register_catalogue",
    "run_fix",
    "troubleshoot",
]
