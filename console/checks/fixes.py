"""Which troubleshooting entry repairs a failing check: a lookup keyed by check id that the wizards fill.

The checks never import the wizards: the troubleshooting catalogue (`console.wizards.fixes`) registers its
entries here when it is imported, and whoever runs checks with the wizards available (`--check`, the TUI
session) imports it once. A check that no entry claims keeps the advice its rule gave.

An entry may repair only some failures of a check (docker.engine: a permission denied, not a daemon that is
down); its `applies` predicate tells them apart from the result's structured fields (status, target, the
rule's own advice), never from the summary, which quotes what a node said.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from console.checks.model import CheckResult, Status

Applies = Callable[[CheckResult], bool]
FAILING = (Status.CRITICAL, Status.WARNING)


@dataclass(frozen=True, slots=True)
class _Entry:
    name: str
    applies: Applies | None


_BY_CHECK: dict[str, list[_Entry]] = {}


def register_fix(check_id: str, name: str, applies: Applies | None = None) -> None:
    """Name entry `name` as the repair for failing `check_id` results (those `applies` accepts, if given).

    Registering the same (check, entry) again replaces it: a module imported twice does not count twice."""
    entries = _BY_CHECK.setdefault(check_id, [])
    entry = _Entry(name, applies)
    for index, known in enumerate(entries):
        if known.name == name:
            entries[index] = entry
            return
    entries.append(entry)


def registered() -> dict[str, tuple[str, ...]]:
    """Check id -> the entries registered for it, in registration order."""
    return {check: tuple(entry.name for entry in entries) for check, entries in _BY_CHECK.items()}


def fix_for(result: CheckResult) -> str | None:
    """The entry that repairs a failing result, when one is registered for its check and applies."""
    if result.status not in FAILING:
        return None
    for entry in _BY_CHECK.get(result.check, ()):
        if entry.applies is None or entry.applies(result):
            return entry.name
    return None


def troubleshoot(name: str) -> str:
    """A check result's `fix` for a catalogue entry: `opsconsole troubleshoot NAME --node NODE` runs it."""
    return f"troubleshoot {name}"


def name_fix(result: CheckResult) -> CheckResult:
    """`result` with fix "troubleshoot NAME" when an entry repairs it (the rule's own advice kept after)."""
    entry = fix_for(result)
    if entry is None:
        return result
    fix = troubleshoot(entry) + (f" ({result.fix})" if result.fix else "")
    return replace(result, fix=fix)


def name_fixes(results: Iterable[CheckResult]) -> tuple[CheckResult, ...]:
    return tuple(name_fix(result) for result in results)
