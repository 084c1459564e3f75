"""The OS family a wizard supports: a first, read-only step that refuses a node outside it.

The bring-up and the nvidia-runtime fix install with apt and follow Ubuntu/Debian layouts; on Rocky Linux,
RHEL and the like they would fail half-way (after changing things). So their first step reads
/etc/os-release (the hardware section's parser, console/collectors/hardware.py) and stops the run before any
other step when the node is not Ubuntu or Debian: "bring-up supports Ubuntu and Debian; this node runs Rocky
Linux 9.3". A dry run still lists the later steps' checks (read-only), as it does after any failed step.
"""

from __future__ import annotations

from console.collectors.hardware import parse_os_release
from console.model.hardware import OsRelease
from console.wizards.engine import NodeContext, Outcome, Step

OS_RELEASE_COMMAND = "cat /etc/os-release 2>/dev/null || cat /usr/lib/os-release"
SUPPORTED = "Ubuntu and Debian"


async def node_os(ctx: NodeContext) -> OsRelease | None:
    """The node's os-release (cached for the run); None when the node has none."""
    if "os" not in ctx.cache:
        result = await ctx.read(OS_RELEASE_COMMAND, timeout=10)
        found = parse_os_release(result.stdout[:16384]) if result.ok else None
        ctx.cache["os"] = found if found is not None and (found.id or found.name) else None
    value: OsRelease | None = ctx.cache["os"]
    return value


def refusal(what: str, os: OsRelease | None) -> str | None:
    """Why `what` will not run on this OS; None on Ubuntu, Debian and their derivatives."""
    if os is None:
        return f"{what} supports {SUPPORTED}; this node has no /etc/os-release to say what it runs"
    if os.family == "debian":
        return None
    return f"{what} supports {SUPPORTED}; this node runs {os.described}"


def os_step(what: str) -> Step:
    """The first step of a wizard that assumes apt and Ubuntu/Debian (`what`: "bring-up")."""

    async def check(ctx: NodeContext) -> Outcome:
        os = await node_os(ctx)
        refused = refusal(what, os)
        if refused is not None:
            return Outcome(False, refused)
        assert os is not None
        return Outcome(True, os.pretty_name or os.described)

    why = f"{what} installs with apt and assumes Ubuntu/Debian paths"
    return Step("os", "Operating system", why, check, kind="prerequisite")
