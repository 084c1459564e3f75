"""Rules for a node's sshd settings and storage layout (from console.collectors.node_facts). Pure, no I/O.

Check ids:
- `ssh.root_login` (no target; only with an `sshd` policy): the effective PermitRootLogin must be one of
  `sshd.root_login` (`without-password` is the old spelling of `prohibit-password`); anything else, `yes`
  above all, is critical.
- `ssh.password_auth` (no target; only with an `sshd` policy): PasswordAuthentication yes while the policy
  says `password_auth: false` is critical.
  Both say where the settings came from: "from sshd -T", or "from sshd_config (sshd -T needs root)".
- `storage.layout` (target = path): missing, or not a directory (after symlinks), is critical.
- `storage.ownership` (target = path; only where `owner` or `mode` is set): another uid:gid is critical
  (fix `chown UID:GID PATH`); another mode is a warning (fix `chmod MODE PATH`). A three-digit mode is
  compared on the permission bits only (setgid on a shared directory is fine, and GNU chmod keeps it);
  give four digits (`2775`) to pin the special bits too.
"""

from __future__ import annotations

import shlex

from console.checks.model import CheckResult, Status
from console.collectors.node_facts import NodeFacts, PathFacts, SshdFacts
from console.inventory.model import Node, SshdPolicy, StorageSpec

ROOT_LOGIN = "ssh.root_login"
PASSWORD_AUTH = "ssh.password_auth"
LAYOUT = "storage.layout"
OWNERSHIP = "storage.ownership"

_OLD_SPELLINGS = {"without-password": "prohibit-password"}
_SSHD_FIX = "the first value wins: put it in /etc/ssh/sshd_config.d/ or above any Include, then reload sshd"


def planned_node_facts(node: Node) -> tuple[tuple[str, str | None], ...]:
    """(check id, target) for the node's sshd and storage checks, in inventory order."""
    planned: list[tuple[str, str | None]] = []
    if node.sshd is not None:
        planned += [(ROOT_LOGIN, None), (PASSWORD_AUTH, None)]
    for spec in node.storage:
        planned.append((LAYOUT, spec.path))
        if spec.owner is not None or spec.mode is not None:
            planned.append((OWNERSHIP, spec.path))
    return tuple(planned)


def _unknown(node: Node, summary: str) -> tuple[CheckResult, ...]:
    return tuple(
        CheckResult(node.name, check, Status.UNKNOWN, summary, target=target)
        for check, target in planned_node_facts(node)
    )


def evaluate_node_facts(node: Node, facts: NodeFacts | None) -> tuple[CheckResult, ...]:
    """Results for every planned check; a None snapshot (or one with `error`) makes them UNKNOWN."""
    if facts is None:
        return _unknown(node, "no node facts")
    if facts.error is not None:
        return _unknown(node, f"cannot read node facts: {facts.error}")
    results: list[CheckResult] = []
    if node.sshd is not None:
        results += _sshd(node, node.sshd, facts.sshd)
    specs = {spec.path: spec for spec in node.storage}
    for check, target in planned_node_facts(node):
        if check in (LAYOUT, OWNERSHIP):
            spec = specs[target or ""]
            path = facts.path(spec.path)
            results.append(_layout(node, spec, path) if check == LAYOUT else _ownership(node, spec, path))
    return tuple(results)


def _sshd(node: Node, policy: SshdPolicy, sshd: SshdFacts | None) -> list[CheckResult]:
    if sshd is None or sshd.error is not None:
        why = sshd.error if sshd is not None and sshd.error else "no sshd settings"
        return [
            CheckResult(node.name, check, Status.UNKNOWN, f"cannot read sshd settings: {why}")
            for check in (ROOT_LOGIN, PASSWORD_AUTH)
        ]
    where = sshd.described + ("; Match blocks ignored" if "Match blocks ignored" in sshd.notes else "")
    allowed = tuple(
        dict.fromkeys(_OLD_SPELLINGS.get(value.lower(), value.lower()) for value in policy.root_login)
    )
    root = sshd.permit_root_login or "?"
    if root in allowed:
        root_result = CheckResult(node.name, ROOT_LOGIN, Status.OK, f"PermitRootLogin {root}; {where}")
    else:
        summary = f"PermitRootLogin {root}, inventory allows {' or '.join(allowed) or 'nothing'}; {where}"
        fix = f"PermitRootLogin {allowed[0]}; {_SSHD_FIX}" if allowed else None
        root_result = CheckResult(node.name, ROOT_LOGIN, Status.CRITICAL, summary, fix=fix)
    password = sshd.password_authentication or "?"
    if password == "yes" and not policy.password_auth:
        summary = f"PasswordAuthentication yes, inventory forbids it; {where}"
        fix = f"PasswordAuthentication no; {_SSHD_FIX}"
        password_result = CheckResult(node.name, PASSWORD_AUTH, Status.CRITICAL, summary, fix=fix)
    else:
        allowed_note = ", allowed by the inventory" if password == "yes" else ""
        summary = f"PasswordAuthentication {password}{allowed_note}; {where}"
        password_result = CheckResult(node.name, PASSWORD_AUTH, Status.OK, summary)
    return [root_result, password_result]


def _layout(node: Node, spec: StorageSpec, facts: PathFacts | None) -> CheckResult:
    def result(status: Status, summary: str, fix: str | None = None) -> CheckResult:
        return CheckResult(node.name, LAYOUT, status, summary, target=spec.path, fix=fix)

    if facts is None or facts.exists is None:
        return result(Status.UNKNOWN, f"cannot tell: {facts.error if facts else 'not checked'}")
    if not facts.exists:
        return result(Status.CRITICAL, "missing", f"mkdir -p {shlex.quote(spec.path)}")
    if facts.kind != "directory":
        return result(Status.CRITICAL, f"is a {facts.kind or 'non-directory'}, not a directory")
    return result(Status.OK, "directory exists")


def _ids(owner: str) -> tuple[int, ...] | None:
    try:
        return tuple(int(part) for part in owner.split(":"))
    except ValueError:
        return None


def _mode_differs(want: str, have: str) -> bool:
    wanted, present = int(want, 8), int(have, 8)
    mask = 0o7777 if wanted > 0o777 else 0o777
    return wanted & mask != present & mask


def _ownership(node: Node, spec: StorageSpec, facts: PathFacts | None) -> CheckResult:
    def result(status: Status, summary: str, fix: str | None = None) -> CheckResult:
        return CheckResult(node.name, OWNERSHIP, status, summary, target=spec.path, fix=fix)

    if facts is None or facts.exists is None:
        return result(Status.UNKNOWN, f"cannot tell: {facts.error if facts else 'not checked'}")
    if not facts.exists or facts.owner is None or facts.mode is None:
        return result(Status.SKIPPED, "missing: nothing to own (see storage.layout)")
    path = shlex.quote(spec.path)
    problems: list[str] = []
    fixes: list[str] = []
    status = Status.OK
    if spec.owner is not None:
        want = _ids(spec.owner)
        have = _ids(facts.owner)
        if want is None or have is None or have[: len(want)] != want:
            problems.append(f"owned by {facts.owner}, inventory wants {spec.owner}")
            fixes.append(f"chown {spec.owner} {path}")
            status = Status.CRITICAL
    if spec.mode is not None and _mode_differs(spec.mode, facts.mode):
        problems.append(f"mode {facts.mode}, inventory wants {spec.mode}")
        fixes.append(f"chmod {spec.mode} {path}")
        status = Status.CRITICAL if status is Status.CRITICAL else Status.WARNING
    if problems:
        return result(status, "; ".join(problems), " && ".join(fixes))
    return result(Status.OK, f"{facts.owner} mode {facts.mode}")
