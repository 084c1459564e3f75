"""The troubleshooting catalogue against the real lab node: each fault is created for real, the detector
finds it, the fix repairs it (real sudo, dockerd, compose, sshd), and detecting again finds nothing."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import io
import os
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from console.checks.docker_rules import FIX_GROUP, FIX_LOGS, FIX_START, FIX_START_CONTAINER, evaluate_docker
from console.checks.model import CheckResult, Status
from console.collectors.docker import close_docker_clients, collect_docker
from console.collectors.docker_model import DockerSnapshot
from console.inventory import load_inventory
from console.inventory.model import GpuExpectation, Node, ServiceSpec
from console.transport.ssh import SSHTransport
from console.tunnels import TunnelRegistry, fetch_status
from console.wizards.bringup import bringup_wizard
from console.wizards.cli import add_wizard_commands, run_wizard_command
from console.wizards.compose import compose_services
from console.wizards.engine import run_wizard
from console.wizards.fix_model import FixInput
from console.wizards.fixes import CATALOGUE, entry_for, name_fix, run_fix
from console.wizards.probes import inspect_containers
from console.wizards.stack_checks import collect_stack, evaluate_stack, planned_stack

if TYPE_CHECKING:
    from tests.lab.stack_images import StackEnv

pytest_plugins = ["tests.lab.stack_images"]

OLLAMA_PORT = 11434


def as_root(*argv: str) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=True, timeout=60).stdout


def compose_as_root(stack: StackEnv, path: str, *args: str) -> None:
    env = {"PATH": os.environ["PATH"], "DOCKER_HOST": f"unix://{stack.lab.socket}"}
    subprocess.run(
        ["docker-compose", "-f", path, "-p", stack.settings.project_name, *args],
        env=env,
        capture_output=True,
        check=True,
        timeout=120,
    )


def write(path: str, text: str) -> None:
    Path(path).write_text(text, encoding="utf-8")


def read(path: str) -> str:
    return Path(path).read_text(encoding="utf-8")


def backups(directory: str, name: str) -> list[str]:
    """The contents of NAME's backups in directory (NAME.opsconsole-bak-STAMP)."""
    return [
        read(str(path))
        for path in Path(directory).iterdir()
        if path.name.startswith(f"{name}.opsconsole-bak-")
    ]


async def bring_up(stack: StackEnv) -> None:
    """A node where the stack runs (ComfyUI installed before, so it starts at once)."""
    await asyncio.to_thread(stack.comfy_installed)
    report = await run_wizard(bringup_wizard(stack.settings), stack.context(), yes=True)
    assert report.ok, report.failed


async def wait_for_state(stack: StackEnv, name: str, wanted: str, deadline_s: float = 20.0) -> None:
    deadline = time.monotonic() + deadline_s
    while True:
        state = (await inspect_containers(stack.transport, stack.node, (name,)))[name]
        if state is not None and state.status == wanted:
            return
        assert time.monotonic() < deadline, f"{name} never {wanted}: {state}"
        await asyncio.sleep(0.1)


async def fix_cli(stack: StackEnv, inventory: str, *argv: str) -> tuple[int, str]:
    parser = argparse.ArgumentParser()
    add_wizard_commands(parser.add_subparsers(dest="command"))
    out = io.StringIO()
    args = parser.parse_args(["fix", *argv, "--node", stack.node.name])
    inv = load_inventory(inventory)
    code = await asyncio.to_thread(run_wizard_command, args, inv, settings=stack.settings, out=out)
    return code, out.getvalue()


def nvidia_results(node: Node, snapshot: DockerSnapshot) -> list[CheckResult]:
    return [result for result in evaluate_docker(node, snapshot) if result.check == "docker.nvidia_runtime"]


def run_standin_ollama(stack: StackEnv) -> None:
    stack.lab.docker(
        "run",
        "-d",
        "--init",
        "--name",
        "ollama",
        "-p",
        f"127.0.0.1:{OLLAMA_PORT}:{OLLAMA_PORT}",
        stack.lab.images["ollama"],
    )


# --- /comfy/mnt -----------------------------------------------------------------------------------------


async def test_comfy_mnt_owned_by_root_is_found_checked_and_fixed(stack: StackEnv) -> None:
    await bring_up(stack)
    ok = evaluate_stack(
        stack.node, await collect_stack(stack.transport, stack.node, stack.settings), stack.settings
    )
    assert [(result.check, result.status) for result in ok] == [("stack.comfy_mnt", Status.OK)]

    await asyncio.to_thread(as_root, "chown", "-R", "0:0", stack.settings.comfy_mnt)
    stack.lab.docker("restart", "comfy")  # the stand-in refuses, as the real image does: a restart loop
    (result,) = evaluate_stack(
        stack.node, await collect_stack(stack.transport, stack.node, stack.settings), stack.settings
    )
    assert result.status is Status.CRITICAL
    assert result.fix == "troubleshoot comfy-mnt-ownership"
    assert (
        f"{stack.settings.comfy_mnt} is owned 0:0 mode 775 on the host, needs 1024:1024 mode 775"
        in result.summary
    )

    run = await run_fix("comfy-mnt-ownership", stack.context(), FixInput(stack.settings), yes=True)
    assert run.before.found
    assert run.report is not None
    states = {step.id: step.state for step in run.report.steps}
    assert states == {
        "storage": "done",
        "compose-file": "done",
        "comfy-mnt": "applied",
        "recreate": "applied",
        "first-run": states["first-run"],
    }
    assert states["first-run"] in (
        "done",
        "applied",
    )  # the stand-in may already be serving when it is checked
    assert run.ok
    assert run.after is not None
    assert not run.after.found
    (after,) = evaluate_stack(
        stack.node, await collect_stack(stack.transport, stack.node, stack.settings), stack.settings
    )
    assert after.status is Status.OK


async def test_comfy_sub_mounts_are_replaced_by_one_bind_mount(stack: StackEnv) -> None:
    await bring_up(stack)
    # The classic mistake: models mounted below /comfy/mnt and no /comfy/mnt bind of its own.
    broken = compose_services(stack.settings)
    broken["services"]["comfy"]["volumes"] = [f"{stack.settings.models_dir}:/comfy/mnt/models:ro"]
    faulty = yaml.safe_dump(broken, sort_keys=False)
    await asyncio.to_thread(write, stack.settings.compose_path, faulty)
    await asyncio.to_thread(compose_as_root, stack, stack.settings.compose_path, "up", "-d")
    inventory = stack.root / "inventory.yaml"
    await asyncio.to_thread(
        write, str(inventory), stack.lab.node.inventory_yaml(socket_path=stack.lab.socket)
    )

    code, out = await fix_cli(stack, str(inventory), "comfy-mnt-ownership", "--yes")
    assert code == 0, out
    assert (
        "found: sub-mounts below /comfy/mnt: /comfy/mnt/models (needs ONE bind mount at /comfy/mnt); " in out
    )
    assert "no bind mount at /comfy/mnt" in out
    assert f"      -    - {stack.settings.models_dir}:/comfy/mnt/models:ro\n" in out
    assert f"      +    - {stack.settings.comfy_mnt}:/comfy/mnt\n" in out
    assert "detected again: /comfy/mnt is one bind mount of" in out
    assert backups(stack.settings.project_dir, "docker-compose.yml") == [faulty]
    state = (await inspect_containers(stack.transport, stack.node, ("comfy",)))["comfy"]
    assert state is not None
    assert [mount.destination for mount in state.mounts] == ["/comfy/mnt", "/models", "/outputs"]


async def test_stack_check_on_a_node_never_brought_up(stack: StackEnv) -> None:
    assert planned_stack(stack.node) == ()  # no ai_stack section: no stack checks
    assert planned_stack(stack.node, stack.settings) == (("stack.comfy_mnt", "comfy"),)
    (unknown,) = evaluate_stack(stack.node, None, stack.settings)
    assert (unknown.status, unknown.summary) == (Status.UNKNOWN, "no stack data")
    (result,) = evaluate_stack(
        stack.node, await collect_stack(stack.transport, stack.node, stack.settings), stack.settings
    )
    assert result.status is Status.CRITICAL
    assert result.summary == f"AI stack not brought up: {stack.settings.comfy_mnt} does not exist on the node"
    assert result.fix == "wizard bringup"


# --- restart loop -------------------------------------------------------------------------------------


async def test_restart_loop_names_its_cause_from_the_logs_and_fixes_it(stack: StackEnv) -> None:
    await bring_up(stack)
    await asyncio.to_thread(as_root, "chown", "1001:1001", stack.settings.comfy_mnt)
    stack.lab.docker("restart", "comfy")
    await wait_for_state(stack, "comfy", "restarting")

    finding = await CATALOGUE["restart-loop"].detect(stack.context(), FixInput(stack.settings))
    assert finding.found
    assert finding.cause == "comfy-mnt-ownership"
    assert finding.summary.startswith("comfy is restarting after ")
    assert any(
        "Directory /comfy/mnt owned by unexpected user/group (1001:1001)" in line for line in finding.details
    )

    run = await run_fix("restart-loop", stack.context(), FixInput(stack.settings), yes=True, before=finding)
    assert run.ok, run.report
    assert run.report is not None
    assert [step.id for step in run.report.steps][-2:] == ["first-run", "stays-up"]
    assert run.after is not None
    assert run.after.summary == "comfy running, 0 restarts"


# --- scheme mismatch and localhost-only services -----------------------------------------------------


async def test_wrong_version_number_rewrites_the_inventory_scheme(stack: StackEnv) -> None:
    run_standin_ollama(stack)
    inventory = stack.root / "inventory.yaml"
    service = (
        "    services:\n      - {name: ollama, port: 11434, container: ollama, bind: 127.0.0.1,\n"
        "         http: {path: /, scheme: https}}\n"
    )
    text = stack.lab.node.inventory_yaml(socket_path=stack.lab.socket, extra=service)
    await asyncio.to_thread(write, str(inventory), text)
    await wait_for_state(stack, "ollama", "running")

    code, out = await fix_cli(stack, str(inventory), "tls-mismatch", "--service", "ollama", "--yes")
    assert code == 0, out
    assert (
        'found: https://127.0.0.1:11434/ fails ("wrong version number"): the service speaks plain HTTP; '
        "use http://127.0.0.1:11434/\n" in out
    )
    assert "detected again: http://127.0.0.1:11434/: HTTP 200 OK" in out
    assert "-         http: {path: /, scheme: https}}" in out
    assert "+         http: {path: /, scheme: http}}" in out
    assert "nodes.stack1.services[0].http.scheme is http; http://127.0.0.1:11434/: HTTP 200 OK" in out
    assert read(str(inventory)) == text.replace("scheme: https", "scheme: http")
    backups = [
        path for path in stack.root.iterdir() if path.name.startswith("inventory.yaml.opsconsole-bak-")
    ]
    assert [read(str(path)) for path in backups] == [text]
    reloaded = load_inventory(str(inventory)).node("stack1")
    spec = reloaded.services[0]
    assert spec.http is not None
    assert spec.http.scheme == "http"
    again = await CATALOGUE["tls-mismatch"].detect(stack.context(), FixInput(stack.settings, spec))
    assert not again.found


async def test_browser_fails_curl_works_opens_a_tunnel(stack: StackEnv) -> None:
    run_standin_ollama(stack)
    await wait_for_state(stack, "ollama", "running")
    spec = ServiceSpec("ollama", OLLAMA_PORT, "ollama", "127.0.0.1")
    tunnels = TunnelRegistry()
    inp = FixInput(stack.settings, spec, tunnels=tunnels)
    run = await run_fix("browser-tunnel", stack.context(), inp, yes=True)
    assert run.before.found
    assert "bound to localhost by design" in run.before.summary
    assert "opsconsole tunnel stack1 ollama" in run.before.summary
    assert run.ok
    (tunnel,) = tunnels.list()
    assert await fetch_status(tunnel.local_port) == 200
    assert run.report is not None
    assert run.report.steps[0].summary == f"open {tunnel.url} in the browser (HTTP 200 through the tunnel)"


# --- docker ---------------------------------------------------------------------------------------------


async def test_docker_permission_denied_adds_the_group_and_reconnects(stack: StackEnv) -> None:
    node = stack.node_for(stack.lab.denied_socket)
    transport = SSHTransport(node)
    ctx = stack.context()
    ctx.transport, ctx.node = transport, node
    try:
        (engine, *_) = evaluate_docker(node, await collect_docker(transport, node))
        assert engine.status is Status.CRITICAL
        assert entry_for(engine) == "docker-permission"
        dry = await run_fix("docker-permission", ctx, FixInput(stack.settings), dry_run=True)
        assert dry.report is not None
        assert [step.state for step in dry.report.steps] == ["todo", "todo"]
        assert stack.lab.group not in as_root("id", "-nG", stack.lab.user).split()

        run = await run_fix("docker-permission", ctx, FixInput(stack.settings), yes=True)
        assert run.before.summary.startswith(
            f"opsconsole-lab may not use {stack.lab.denied_socket} (group opsdkr"
        )
        assert run.ok, run.report
        assert run.report is not None
        assert [step.state for step in run.report.steps] == ["applied", "applied"]
        assert run.report.steps[0].plan == (f"sudo -n usermod -aG {stack.lab.group} opsconsole-lab",)
        (engine, *_) = evaluate_docker(node, await collect_docker(transport, node))
        assert engine.status is Status.OK
    finally:
        await close_docker_clients(transport)
        await transport.close()
        await asyncio.to_thread(as_root, "gpasswd", "-d", stack.lab.user, stack.lab.group)


async def test_missing_nvidia_runtime_is_registered_and_dockerd_reloaded(stack: StackEnv) -> None:
    daemon = stack.lab.new_dockerd("no-nvidia", nvidia=False)
    node = stack.node_for(str(daemon.socket))
    node = dataclasses.replace(node, gpus=GpuExpectation(count=1))  # a GPU node: the runtime is needed
    transport = SSHTransport(node)
    ctx = stack.context()
    ctx.transport, ctx.node = transport, node
    try:
        before = nvidia_results(node, await collect_docker(transport, node))
        assert before[0].status is Status.CRITICAL
        assert name_fix(before[0]).fix is not None
        assert name_fix(before[0]).fix.startswith(
            "troubleshoot nvidia-runtime (install nvidia-container-toolkit"
        )
        old = await asyncio.to_thread(read, str(daemon.config_file))

        run = await run_fix("nvidia-runtime", ctx, FixInput(stack.settings), yes=True)
        assert run.ok, run.report
        assert run.report is not None
        assert [step.state for step in run.report.steps] == ["done", "done", "applied", "applied"]  # OS first
        assert run.report.steps[3].plan == (
            f"sudo -n kill -HUP {daemon.pid}  # what `systemctl reload docker` does: dockerd re-reads its "
            "runtimes, containers keep running",
        )
        config = await asyncio.to_thread(read, str(daemon.config_file))
        assert f'"path": "{stack.lab.node.bin_dir}/nvidia-container-runtime"' in config
        assert backups(str(daemon.public_dir), "daemon.json") == [old]
        after = nvidia_results(node, await collect_docker(transport, node))
        assert after[0].status is Status.OK
    finally:
        await close_docker_clients(transport)
        await transport.close()
        daemon.stop()


# --- the catalogue ------------------------------------------------------------------------------------


def test_every_entry_has_detector_explanation_and_fix() -> None:
    assert sorted(CATALOGUE) == [
        "browser-tunnel",
        "comfy-mnt-ownership",
        "docker-permission",
        "nvidia-runtime",
        "restart-loop",
        "tls-mismatch",
    ]
    for name, fix in CATALOGUE.items():
        assert fix.name == name
        assert fix.symptom
        assert len(fix.explanation) > 80


def test_failing_checks_name_their_entry() -> None:
    def result(check: str, status: Status, summary: str = "x", fix: str | None = None) -> CheckResult:
        return CheckResult("gpu1", check, status, summary, "comfy", fix)

    assert entry_for(result("service.tls_mismatch", Status.CRITICAL)) == "tls-mismatch"
    # The rule's own advice tells the cause, not the summary's words.
    assert entry_for(result("docker.engine", Status.CRITICAL, "permission denied on /s", FIX_GROUP)) == (
        "docker-permission"
    )
    assert entry_for(result("docker.engine", Status.CRITICAL, "permission denied on /s")) is None
    assert entry_for(result("docker.engine", Status.CRITICAL, "no Docker socket at /s", FIX_START)) is None
    assert entry_for(result("container.restarts", Status.CRITICAL)) == "restart-loop"
    restarting = FIX_LOGS.format(name="comfy")
    assert entry_for(result("container.running", Status.CRITICAL, "restarting: R (1)", restarting)) == (
        "restart-loop"
    )
    exited = FIX_START_CONTAINER.format(name="comfy")
    assert entry_for(result("container.running", Status.CRITICAL, "restarting: but exited", exited)) is None
    assert entry_for(result("stack.comfy_mnt", Status.CRITICAL)) == "comfy-mnt-ownership"
    assert entry_for(result("service.tls_mismatch", Status.OK)) is None
    named = name_fix(result("service.tls_mismatch", Status.CRITICAL, fix="use http://127.0.0.1:8188/"))
    assert named.fix == "troubleshoot tls-mismatch (use http://127.0.0.1:8188/)"


async def test_restart_loop_without_container_finds_the_one_that_loops(stack: StackEnv) -> None:
    image = stack.lab.images["ollama"]
    stack.lab.docker("run", "-d", "--name", "steady", "--init", image)
    looping = ("run", "-d", "--name", "looper", "--restart", "always", "--entrypoint", "sh", image)
    # Up for a second each run: a detection mostly finds it "running", between two crashes.
    stack.lab.docker(*looping, "-c", "echo 'boom: config missing'; sleep 1; exit 1")
    deadline = time.monotonic() + 20
    while (await inspect_containers(stack.transport, stack.node, ("looper",)))["looper"].restart_count < 1:  # type: ignore[union-attr]
        assert time.monotonic() < deadline, "looper never restarted"
        await asyncio.sleep(0.1)

    finding = await CATALOGUE["restart-loop"].detect(stack.context(), FixInput(stack.settings))
    assert finding.found, finding.summary
    assert finding.target == "looper"
    assert finding.summary.startswith("looper is ")
    assert any("boom: config missing" in line for line in finding.details)
    wizard = CATALOGUE["restart-loop"].wizard(FixInput(stack.settings), finding)
    assert wizard.title == "Fix looper's restart loop"
    assert [step.title for step in wizard.steps] == ["Restart looper", "looper stays up"]

    parser = argparse.ArgumentParser()
    add_wizard_commands(parser.add_subparsers(dest="command"))
    assert parser.parse_args(["fix", "restart-loop", "--node", "stack1"]).container is None

    stack.lab.docker("rm", "-f", "looper")
    calm = await CATALOGUE["restart-loop"].detect(stack.context(), FixInput(stack.settings))
    assert not calm.found
    assert calm.summary == "no container is in a restart loop (1 looked at)"
