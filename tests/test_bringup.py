"""The AI stack bring-up against a real node: OpenSSH (sessions in the dockerd's network namespace), a real
dockerd, Debian's docker-compose v1, real sudo. The images are local stand-ins (tests/lab/stack_images.py)."""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from console.actions import AuditLog
from console.inventory.model import GpuExpectation, Inventory, Node, ServiceSpec
from console.wizards.bringup import bringup_wizard, checklist
from console.wizards.cli import add_wizard_commands, run_wizard_command
from console.wizards.compose import compose_services, render_compose
from console.wizards.engine import CommandFinished, NodeContext, Progress, StepPlan, WizardEvent, run_wizard
from console.wizards.settings import AiStackSettings, stack_settings

if TYPE_CHECKING:
    from tests.lab.stack_images import StackEnv

pytest_plugins = ["tests.lab.stack_images"]

STEPS = [
    "gpu",
    "docker",
    "nvidia-runtime",
    "storage",
    "comfy-mnt",
    "compose-file",
    "up",
    "first-run",
    "validate",
]


def exists(path: str) -> bool:
    return os.path.exists(path)


def owner_mode(path: str) -> tuple[int, int, int]:
    info = os.stat(path)
    return info.st_uid, info.st_gid, info.st_mode & 0o7777


def read(path: str) -> str:
    return Path(path).read_text(encoding="utf-8")


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_wizard_commands(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


async def bringup_cli(
    stack: StackEnv, *flags: str, settings: AiStackSettings | None = None, node: Node | None = None
) -> tuple[int, str]:
    """`opsconsole wizard bringup --node stack1 FLAGS` (its own event loop, so in a thread)."""
    out = io.StringIO()
    inventory = Inventory("stack-lab", "memory", (node or stack.node,))
    args = parse("wizard", "bringup", "--node", stack.node.name, *flags)
    code = await asyncio.to_thread(
        run_wizard_command, args, inventory, settings=settings or stack.settings, out=out
    )
    return code, out.getvalue()


# --- the compose file ---------------------------------------------------------------------------------


def test_compose_file_follows_the_procedure() -> None:
    settings = AiStackSettings()
    services = compose_services(settings)["services"]
    assert [port for service in services.values() for port in service["ports"]] == [
        "127.0.0.1:8188:8188",
        "127.0.0.1:11434:11434",
        "127.0.0.1:3000:8080",
    ]
    comfy = services["comfy"]
    assert comfy["image"] == "mmartial/comfyui-nvidia-docker:latest"
    assert comfy["environment"] == {"WANTED_UID": "1024", "WANTED_GID": "1024"}
    assert comfy["volumes"] == [
        "/mnt/local/nvme/ai/services/comfy-mnt:/comfy/mnt",
        "/mnt/local/nvme/ai/models:/models:ro",
        "/mnt/local/ssd/ai/outputs/comfy:/outputs",
    ]
    gpu = {"driver": "nvidia", "count": "all", "capabilities": ["gpu"]}
    assert comfy["deploy"]["resources"]["reservations"]["devices"] == [gpu]
    assert services["ollama"]["deploy"]["resources"]["reservations"]["devices"] == [gpu]
    assert "deploy" not in services["openwebui"]
    assert services["openwebui"]["depends_on"] == ["ollama"]


def test_images_ports_and_paths_are_settings() -> None:
    settings = AiStackSettings(
        nvme_root="/srv/nvme",
        comfy_image="registry.local/comfy:7",
        comfy_port=18188,
        openwebui_port=13000,
        gpu_access=False,
    )
    text = render_compose(settings)
    services = yaml.safe_load(text)["services"]
    assert services["comfy"]["image"] == "registry.local/comfy:7"
    assert services["comfy"]["ports"] == ["127.0.0.1:18188:8188"]
    assert services["openwebui"]["ports"] == ["127.0.0.1:13000:8080"]
    assert services["comfy"]["volumes"][0] == "/srv/nvme/services/comfy-mnt:/comfy/mnt"
    assert "deploy" not in services["comfy"]
    assert render_compose(settings) == text  # deterministic: a re-run finds nothing to change


def test_real_compose_accepts_the_default_file(tmp_path: Path) -> None:
    path = tmp_path / "docker-compose.yml"
    path.write_text(render_compose(AiStackSettings()), encoding="utf-8")
    result = subprocess.run(
        ["docker-compose", "-f", str(path), "config"], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(result.stdout)["services"]
    assert resolved["comfy"]["deploy"]["resources"]["reservations"]["devices"][0]["driver"] == "nvidia"
    assert all(port.startswith("127.0.0.1:") for s in resolved.values() for port in s["ports"])


# --- against the lab node -----------------------------------------------------------------------------


async def test_fresh_node_brought_up_then_nothing_to_change(stack: StackEnv) -> None:
    code, out = await bringup_cli(stack, "--yes")
    assert code == 0, out
    assert "bringup on stack1: verified (5 already done, 5 applied)" in out
    for item in (
        "✔ comfy: Up",
        "✔ ollama: Up",
        "✔ openwebui: Up",
        "✔ http://127.0.0.1:8188 through SSH: HTTP 200 OK",
        "✔ no UID/GID error in `docker logs --tail=50 comfy`",
        '✔ "Starting server" in `docker logs --tail=50 comfy`',
    ):
        assert item in out
    assert owner_mode(stack.settings.comfy_mnt) == (1024, 1024, 0o775)
    assert all(exists(directory) for directory in stack.settings.directories)
    assert read(stack.settings.compose_path) == render_compose(stack.settings)
    entries = AuditLog().entries()
    assert [entry["target"] for entry in entries] == [
        "storage",
        "comfy-mnt",
        "comfy-mnt",
        "compose-file",
        "compose-file",
        "up",
    ]
    assert all(entry["action"] == "wizard.bringup" and entry["ok"] for entry in entries)
    assert entries[0]["call"].startswith("sudo -n mkdir -p ")
    assert entries[0]["node"] == "stack1"
    assert entries[-1]["detail"].startswith("exit 0: ")
    assert "Creating comfy" in entries[-1]["detail"]

    again_code, again = await bringup_cli(stack, "--yes")
    assert again_code == 0, again
    assert "verified (10 already done, 0 applied)" in again
    assert again.count("already done") == 10  # nine steps, and the summary
    assert "[10/10] ✔ Validation checklist: passed: 6/6 validation checks pass" in again
    assert "running:" not in again
    assert len(AuditLog().entries()) == len(entries)


async def test_dry_run_on_a_fresh_node_changes_nothing(stack: StackEnv) -> None:
    before = stack.state()
    code, out = await bringup_cli(stack, "--dry-run")
    assert code == 0, out
    assert stack.state() == before
    assert AuditLog().entries() == []
    assert "dry run of bringup on stack1: 6 to do, 4 already done; nothing was changed (ok)" in out
    assert f"$ sudo -n mkdir -p {stack.settings.cache_dir} " in out
    assert f"$ sudo -n chown -R 1024:1024 {stack.settings.comfy_mnt}" in out
    assert f"+++ {stack.settings.compose_path} (new)" in out
    assert "+    - 127.0.0.1:8188:8188" in out
    compose = f"docker-compose -f {stack.settings.compose_path} -p ai-stack up -d"
    assert f"$ DOCKER_HOST=unix://{stack.lab.socket} {compose}" in out
    assert "running:" not in out


async def test_first_run_wait_is_progress_not_an_error(stack: StackEnv) -> None:
    events: list[WizardEvent] = []
    report = await run_wizard(bringup_wizard(stack.settings), stack.context(events.append), yes=True)
    assert report.ok, report.failed
    progress = [event for event in events if isinstance(event, Progress)]
    assert progress, "the stand-in's first run takes seconds: the wait must have reported progress"
    assert all(event.step == "first-run" and event.deadline_s == 60.0 for event in progress)
    assert progress[-1].elapsed_s > progress[0].elapsed_s
    assert "expected progress, not an error" in progress[0].message
    assert any(line.startswith("First run: ") for event in progress for line in event.lines)
    first_run = next(step for step in report.steps if step.id == "first-run")
    assert first_run.state == "applied"
    assert first_run.summary.startswith("Starting server; HTTP 200 OK")
    waited = [event for event in events if isinstance(event, CommandFinished) and event.step == "first-run"]
    assert waited[0].output.startswith("ComfyUI ready after 0:0")


async def test_each_step_is_confirmed_and_a_no_stops_there(stack: StackEnv) -> None:
    asked: list[StepPlan] = []

    async def confirm(plan: StepPlan) -> bool:
        asked.append(plan)
        return plan.step != "compose-file"

    report = await run_wizard(bringup_wizard(stack.settings), stack.context(), confirm=confirm)
    assert [plan.step for plan in asked] == ["storage", "comfy-mnt", "compose-file"]
    assert "+services:" in (asked[2].diff or "")
    assert [step.state for step in report.steps] == [
        "done",  # the OS: Debian
        "done",
        "done",
        "done",
        "applied",
        "applied",
        "skipped",
        "skipped",
        "skipped",
        "skipped",
    ]
    assert report.failed == report.steps[6]
    assert not exists(stack.settings.compose_path)
    assert stack.lab.docker("ps", "-aq") == ""


async def test_sudo_that_would_prompt_is_reported(stack: StackEnv, tmp_path: Path) -> None:
    # The lab's sudoers rules cover /tmp/opsconsole-stack-* only: a storage root elsewhere makes sudo ask.
    outside = Path("/var/tmp") / f"opsconsole-nosudo-{tmp_path.name}"
    await asyncio.to_thread(outside.mkdir, mode=0o755)
    try:
        settings = stack.settings_with(nvme_root=f"{outside}/nvme")
        code, out = await bringup_cli(stack, "--yes", settings=settings)
        assert code == 1
        assert "FAILED at “Storage layout”: sudo would prompt for a password on stack1" in out
        assert "opsconsole-lab may not run `mkdir -p " in out
        assert "NOPASSWD" in out
        assert not exists(f"{outside}/nvme")
        (entry,) = AuditLog().entries()
        assert entry["ok"] is False
        assert "a password is required" in entry["detail"]
    finally:
        shutil.rmtree(outside)


async def test_node_without_the_nvidia_runtime_stops_at_the_prerequisite(stack: StackEnv) -> None:
    plain = stack.lab.new_dockerd("plain", nvidia=False)
    try:
        code, out = await bringup_cli(stack, "--yes", node=stack.node_for(str(plain.socket)))
    finally:
        plain.stop()
    assert code == 1
    assert "FAILED at “NVIDIA Container Toolkit”: Docker lists no nvidia runtime" in out
    assert "nvidia-runtime" not in out.split("FAILED at", 1)[1].split(":", 1)[0]  # the title, not the id
    assert "opsconsole troubleshoot nvidia-runtime --node stack1" in out
    assert not exists(stack.settings.nvme_root)
    assert AuditLog().entries() == []


# --- defaults from the inventory ----------------------------------------------------------------------


def test_ports_come_from_the_nodes_services_and_the_driver_from_its_pin() -> None:
    comfy = ServiceSpec("comfyui", 28188, container="comfy", bind="127.0.0.1")
    node = Node("gpu1", "10.0.0.1", services=(comfy,), gpus=GpuExpectation(driver="580.95"))
    settings = stack_settings(node)
    assert (settings.host_port("comfy"), settings.host_port("ollama"), settings.host_port("openwebui")) == (
        28188,
        11434,
        3000,
    )
    assert settings.driver_major == "580.95"
    assert compose_services(settings)["services"]["comfy"]["ports"] == ["127.0.0.1:28188:8188"]
    validate = bringup_wizard(settings).steps[-1]
    assert validate.why == "containers Up, HTTP 200 on 127.0.0.1:28188 through SSH, comfy's logs clean"
    # An explicit ai_stack setting wins; nothing pinned anywhere means no driver is expected.
    explicit = stack_settings(replace(node, ai_stack=AiStackSettings(comfy_port=18188, driver_major="590")))
    assert (explicit.host_port("comfy"), explicit.driver_major) == (18188, "590")
    bare = stack_settings(Node("gpu2", "10.0.0.2"))
    assert (bare.host_port("comfy"), bare.driver_major) == (8188, None)
    assert bringup_wizard(bare).steps[1].why == "nvidia-smi answers and sees the GPUs"


async def test_gpu_step_expects_only_the_driver_the_inventory_pins(stack: StackEnv) -> None:
    async def gpu(settings: AiStackSettings, node: Node) -> tuple[str, str]:
        wizard = bringup_wizard(stack_settings(replace(node, ai_stack=settings)))
        one = replace(wizard, steps=wizard.steps[1:2])  # the GPU step
        report = await run_wizard(one, NodeContext(stack.transport, node, AuditLog()), dry_run=True)
        return report.steps[0].state, report.steps[0].summary

    unpinned = stack.settings_with(driver_major=None)
    state, summary = await gpu(unpinned, stack.node)  # the replay runs driver 580
    assert (state, summary) == (
        "done",
        "already done: 1 GPU (NVIDIA H100 80GB HBM3), driver 580.159.04 (the inventory pins no driver)",
    )
    state, summary = await gpu(unpinned, replace(stack.node, gpus=GpuExpectation(driver="590")))
    assert state == "failed"
    assert summary.endswith(
        "the inventory pins driver 590: install it, or change the pin (gpus.driver, or ai_stack.driver_major)"
    )
    assert (await gpu(unpinned, replace(stack.node, gpus=GpuExpectation(driver="580"))))[0] == "done"


async def test_bringup_validates_comfy_on_the_port_its_services_entry_names(stack: StackEnv) -> None:
    comfy = ServiceSpec("comfy", 28188, container="comfy", bind="127.0.0.1")
    node = replace(stack.node, services=(comfy,), ai_stack=stack.settings)
    out = io.StringIO()
    args = parse("wizard", "bringup", "--node", node.name, "--yes")
    code = await asyncio.to_thread(
        run_wizard_command, args, Inventory("stack-lab", "memory", (node,)), out=out
    )
    assert code == 0, out.getvalue()
    assert "✔ http://127.0.0.1:28188 through SSH: HTTP 200 OK" in out.getvalue()
    assert "127.0.0.1:28188:8188" in read(stack.settings.compose_path)


async def test_log_checks_without_a_comfy_container_are_not_checked_not_passed(stack: StackEnv) -> None:
    items = await checklist(stack.context(), stack.settings)
    assert items[-2:] == (
        (None, "no UID/GID error in `docker logs --tail=50 comfy`: not checked, no comfy container"),
        (None, '"Starting server" in comfy\'s logs: not checked'),
    )
    wizard = bringup_wizard(stack.settings)
    one = replace(wizard, steps=wizard.steps[-1:])
    report = await run_wizard(one, stack.context(), dry_run=True)
    (step,) = report.steps
    assert step.summary == "checked after apply: 0/6 validation checks pass, 2 not checked"
    assert (
        "– no UID/GID error in `docker logs --tail=50 comfy`: not checked, no comfy container" in step.details
    )
    assert not any(line.startswith("✔ no UID/GID") for line in step.details)


def test_dry_run_summary_names_the_failed_steps_title() -> None:
    from console.wizards.cli import _summary
    from console.wizards.events import StepReport, WizardReport

    failed = StepReport("gpu", "NVIDIA driver sees the GPU", "failed", "nvidia-smi sees no GPU")
    out = io.StringIO()
    assert _summary(WizardReport("bringup", "gpu1", True, (failed,), 0.1), out) == 1
    assert out.getvalue() == (
        "dry run of bringup on gpu1: 0 to do, 0 already done; nothing was changed "
        "(FAILED at NVIDIA driver sees the GPU)\n"
    )
