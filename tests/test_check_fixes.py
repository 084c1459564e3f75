"""The fix lookup: keyed by check id, filled by the wizards, never reading a result's summary."""

from __future__ import annotations

import ast
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from console.checks import fixes
from console.checks.docker_rules import FIX_GROUP
from console.checks.fixes import fix_for, name_fix, register_fix, registered
from console.checks.model import CheckResult, Status
from console.checks.rules import evaluate
from console.collectors.docker_model import ContainerInfo, DockerSnapshot, EngineInfo
from console.inventory.model import DockerSettings, Node
from console.snapshots import NodeSnapshot

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def empty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fixes, "_BY_CHECK", {})


def result(
    check: str, status: Status = Status.CRITICAL, summary: str = "x", fix: str | None = None
) -> CheckResult:
    return CheckResult("gpu1", check, status, summary, "comfy", fix)


@pytest.mark.usefixtures("empty")
def test_lookup_by_check_id_for_failures_only() -> None:
    register_fix("a.check", "entry-a")
    assert fix_for(result("a.check")) == "entry-a"
    assert fix_for(result("a.check", Status.WARNING)) == "entry-a"
    for status in (Status.OK, Status.UNKNOWN, Status.SKIPPED):
        assert fix_for(result("a.check", status)) is None
    assert fix_for(result("other.check")) is None


@pytest.mark.usefixtures("empty")
def test_predicate_sees_the_result_and_first_applying_entry_wins() -> None:
    register_fix("a.check", "by-advice", lambda r: r.fix == "advice")
    register_fix("a.check", "fallback")
    assert fix_for(result("a.check", fix="advice")) == "by-advice"
    assert fix_for(result("a.check", fix="other")) == "fallback"
    register_fix("a.check", "by-advice")  # registered again: replaced in place, not added twice
    assert registered() == {"a.check": ("by-advice", "fallback")}


@pytest.mark.usefixtures("empty")
def test_name_fix_keeps_the_rules_advice_after_the_entry() -> None:
    register_fix("a.check", "entry-a")
    assert name_fix(result("a.check", fix="do this")).fix == "troubleshoot entry-a (do this)"
    assert name_fix(result("a.check")).fix == "troubleshoot entry-a"
    unclaimed = result("b.check", fix="do this")
    assert name_fix(unclaimed) is unclaimed


def test_the_catalogue_registers_its_entries() -> None:
    import console.wizards.fixes  # noqa: F401  registration happens at import

    table = registered()
    assert table["docker.engine"] == ("docker-permission",)
    assert table["container.running"] == ("restart-loop",)
    assert table["stack.comfy_mnt"] == ("comfy-mnt-ownership",)
    # A summary that merely says "permission denied" (a node's words) names nothing; the rule's advice does.
    assert fix_for(result("docker.engine", summary="permission denied")) is None
    assert fix_for(result("docker.engine", summary="daemon down", fix=FIX_GROUP)) == "docker-permission"


def test_checks_never_import_the_wizards() -> None:
    for path in sorted((ROOT / "console" / "checks").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            assert not any(name.startswith("console.wizards") for name in names), f"{path.name}: {names}"


def test_importing_the_rules_loads_no_catalogue() -> None:
    code = (
        "import sys, console.checks.rules, console.checks.fixes\n"
        "wanted = ('console.wizards.fix', 'console.wizards.stack')\n"
        "print(sorted(m for m in sys.modules if m.startswith(wanted)))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_check_results_name_their_fix_through_the_lookup() -> None:
    """The exact --check `fix` strings, from a snapshot through the rules: the permission denied and the
    restarting container are named, a daemon that is down and an exited container keep their advice."""
    import console.wizards.fixes  # noqa: F401  what --check and the TUI register

    now = datetime.now(UTC)
    node = Node("gpu1", "h", docker=DockerSettings(containers=("comfy", "ollama")))

    def fixes(docker: DockerSnapshot) -> dict[tuple[str, str | None], str | None]:
        results = evaluate(node, NodeSnapshot("gpu1", now, True, docker=docker))
        return {(r.check, r.target): r.fix for r in results if r.check.startswith(("docker", "container"))}

    denied = fixes(DockerSnapshot("gpu1", now, None, error="permission denied on /run/docker.sock"))
    assert denied[("docker.engine", None)] == (
        "troubleshoot docker-permission (add the SSH user to the docker group (usermod -aG docker USER), "
        "then reconnect)"
    )
    down = fixes(DockerSnapshot("gpu1", now, None, error="no Docker socket at /run/docker.sock"))
    assert down[("docker.engine", None)] == (
        "start dockerd (systemctl start docker) or fix docker.socket in the inventory"
    )
    engine = EngineInfo("27.0", "1.46", ("runc",), "runc", False, (), False)
    looping = ContainerInfo("1", "comfy", "img", "restarting", "Restarting (1) 2 s ago", restart_count=7)
    exited = ContainerInfo("2", "ollama", "img", "exited", "Exited (0) 1 minute ago", restart_count=0)
    named = fixes(DockerSnapshot("gpu1", now, engine, (looping, exited)))
    assert named[("container.running", "comfy")] == "troubleshoot restart-loop (docker logs --tail 50 comfy)"
    assert named[("container.restarts", "comfy")] == "troubleshoot restart-loop (docker logs --tail 50 comfy)"
    assert named[("container.running", "ollama")] == "docker start ollama (or docker compose up -d)"
