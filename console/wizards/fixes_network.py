"""Catalogue entries about reaching a service: the TLS/HTTP scheme mismatch, and localhost-only services."""

from __future__ import annotations

import asyncio
import os
from dataclasses import replace
from pathlib import Path

from console.collectors.services import probe_service, probe_url
from console.inventory.model import HttpProbe, ServiceSpec
from console.tunnels import fetch_status, reachable_directly
from console.wizards.bringup import comfy_service
from console.wizards.engine import NodeContext, Outcome, Step, Wizard
from console.wizards.fix_model import Finding, Fix, FixInput, fix_wizard
from console.wizards.inventory_edit import find_scheme, rewrite_scheme
from console.wizards.ops import Operation, StepError, Task, WriteFile

TLS_MISMATCH_FIX = "tls-mismatch"
BROWSER_TUNNEL_FIX = "browser-tunnel"


def target(inp: FixInput) -> ServiceSpec:
    return inp.service or comfy_service(inp.settings)


def with_scheme(spec: ServiceSpec, scheme: str) -> ServiceSpec:
    http = spec.http or HttpProbe()
    return replace(spec, http=replace(http, scheme="https" if scheme == "https" else "http"))


# --- "wrong version number" -----------------------------------------------------------------------------


async def held_scheme(ctx: NodeContext, inp: FixInput, spec: ServiceSpec) -> ServiceSpec:
    """The service as the console holds it now: with the inventory file's scheme, when the file sets one."""
    if inp.inventory_path is None:
        return spec
    text = await asyncio.to_thread(Path(inp.inventory_path).read_text, encoding="utf-8")
    found = find_scheme(text, ctx.name, spec.name, inp.groups)
    return with_scheme(spec, found.value) if found is not None else spec


async def detect_tls_mismatch(ctx: NodeContext, inp: FixInput) -> Finding:
    spec = await held_scheme(ctx, inp, target(inp))
    used = await probe_service(ctx.transport, spec)
    if used.outcome != "tls_mismatch":
        return Finding(TLS_MISMATCH_FIX, False, f"{probe_url(spec)}: {used.detail}")
    scheme = (spec.http or HttpProbe()).scheme
    other = "http" if scheme == "https" else "https"
    right = with_scheme(spec, other)
    answer = await probe_service(ctx.transport, right)
    if answer.outcome not in ("ok", "unexpected_status"):
        return Finding(
            TLS_MISMATCH_FIX, False, f"{probe_url(spec)}: {used.detail}; {probe_url(right)}: {answer.detail}"
        )
    speaks = "plain HTTP" if other == "http" else "TLS"
    summary = f'{probe_url(spec)} fails ("wrong version number"): the service speaks {speaks}; '
    summary += f"use {probe_url(right)}"
    return Finding(TLS_MISMATCH_FIX, True, summary, (f"use {probe_url(right)}",), data=other)


def tls_mismatch_wizard(inp: FixInput, finding: Finding) -> Wizard:
    spec, scheme = target(inp), str(finding.data)
    right_url = probe_url(with_scheme(spec, scheme))

    async def inventory_says(ctx: NodeContext) -> Outcome:
        if inp.inventory_path is None:
            return Outcome(False, f"use {right_url} (no inventory file to rewrite)")
        text = await asyncio.to_thread(Path(inp.inventory_path).read_text, encoding="utf-8")
        found = find_scheme(text, ctx.name, spec.name, inp.groups)
        if found is None:
            return Outcome(False, f"use {right_url}: the inventory does not set {spec.name}'s scheme")
        if found.value == scheme:
            return Outcome(True, f"{inp.inventory_path}: {found.key} is {scheme}")
        return Outcome(
            False,
            f"{inp.inventory_path}: {found.key} is {found.value}, the service speaks {scheme}",
            data=(text, rewrite_scheme(text, found, scheme)),
        )

    def rewrite(ctx: NodeContext, outcome: Outcome) -> tuple[Operation, ...]:
        if outcome.data is None:
            return ()  # nothing the console holds: the operator uses the right URL
        current, new = outcome.data
        assert inp.inventory_path is not None
        return (WriteFile.planned(os.fspath(inp.inventory_path), new, current, root=False, local=True),)

    async def works(ctx: NodeContext) -> Outcome:
        said = await inventory_says(ctx)
        if not said.done:
            return said
        probe = await probe_service(ctx.transport, with_scheme(spec, scheme))
        return Outcome(probe.outcome == "ok", f"{said.summary}; {right_url}: {probe.detail}")

    step = Step(
        "inventory-url",
        f"URL of {spec.name}",
        "the console probes the service with the inventory's scheme",
        inventory_says,
        rewrite,
        works,
    )
    return fix_wizard(TLS_MISMATCH_FIX, f"Use {scheme}:// for {spec.name}", (step,))


TLS_MISMATCH = Fix(
    TLS_MISMATCH_FIX,
    '"wrong version number" (OpenSSL)',
    "curl: (35) error:0A00010B:SSL routines::wrong version number",
    "HTTPS was used against a service that speaks plain HTTP (or the reverse): OpenSSL reads the server's "
    "HTTP reply as a TLS record with a nonsense version. Fix: use http:// (the detector shows the right URL) "
    "and rewrite the scheme where the console holds it, the inventory's services[].http.scheme.",
    ("service.tls_mismatch",),
    detect_tls_mismatch,
    tls_mismatch_wizard,
)


# --- browser fails, curl works ----------------------------------------------------------------------------


async def detect_browser_tunnel(ctx: NodeContext, inp: FixInput) -> Finding:
    spec = target(inp)
    probe = await probe_service(ctx.transport, spec)
    if probe.outcome not in ("ok", "unexpected_status"):
        return Finding(
            BROWSER_TUNNEL_FIX, False, f"{spec.name} does not answer on the node either: {probe.detail}"
        )
    host = ctx.node.host
    if await reachable_directly(host, spec.port):
        return Finding(
            BROWSER_TUNNEL_FIX, False, f"{host}:{spec.port} is reachable from here: not a bind issue"
        )
    summary = (
        f"{spec.name} answers on {ctx.name}'s 127.0.0.1:{spec.port} (curl on the node works) but "
        f"{host}:{spec.port} is closed from here: it is bound to localhost by design. Use a tunnel: "
        f"opsconsole tunnel {ctx.name} {spec.name}"
    )
    return Finding(BROWSER_TUNNEL_FIX, True, summary)


def browser_tunnel_wizard(inp: FixInput, finding: Finding) -> Wizard:
    spec = target(inp)
    path = (spec.http or HttpProbe()).path

    async def open_now(ctx: NodeContext) -> Outcome:
        tunnel = inp.tunnels.get(ctx.name, spec.name) if inp.tunnels is not None else None
        if tunnel is None:
            return Outcome(False, f"no tunnel to {spec.name}")
        status = await fetch_status(tunnel.local_port, path)
        if status is None:
            return Outcome(False, f"the tunnel at {tunnel.url} does not answer")
        return Outcome(True, f"open {tunnel.url} in the browser (HTTP {status} through the tunnel)")

    async def open_tunnel(ctx: NodeContext) -> str:
        if inp.tunnels is None:
            raise StepError("no tunnel registry to keep the tunnel in")
        return (await inp.tunnels.open(ctx.transport, spec)).describe()

    def plan(ctx: NodeContext, outcome: Outcome) -> tuple[Operation, ...]:
        shown = (
            f"forward a free port on this machine's 127.0.0.1 to 127.0.0.1:{spec.port} on {ctx.name} "
            "through its SSH connection"
        )
        return (Task(shown, open_tunnel),)

    step = Step(
        "tunnel",
        f"Tunnel to {spec.name}",
        "the port stays on localhost; SSH carries the browser to it",
        open_now,
        plan,
    )
    return fix_wizard(BROWSER_TUNNEL_FIX, f"Reach {spec.name} from this machine", (step,))


BROWSER_TUNNEL = Fix(
    BROWSER_TUNNEL_FIX,
    "Browser access fails but curl works",
    "curl http://127.0.0.1:8188 works on the node, the browser at http://NODE:8188 does not",
    "Every port of the stack is published on 127.0.0.1 only, by design: nothing of it is exposed on the "
    "network. Fix: an SSH tunnel from the workstation (`opsconsole tunnel NODE SERVICE`), which forwards a "
    "local port through the node's SSH connection and prints the URL to open.",
    (),  # not a failing check: the service is fine, only out of the browser's reach
    detect_browser_tunnel,
    browser_tunnel_wizard,
    repairs_node=False,
)
