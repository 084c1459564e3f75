"""Host vitals as one line of text for the node header, and the figures' short forms. Render only."""

from __future__ import annotations

from rich.text import Text

from console.model.basics import NodeBasics, short_bytes

UNKNOWN = "–"


def _pct(value: float | None) -> str:
    return f"{value:.0f}%" if value is not None else UNKNOWN


def vitals_text(basics: NodeBasics | None) -> Text | None:
    """'CPU 37% of 64 · Mem 384G/512G · Load 3.46 2.00 1.00 · Disk / 40% /scratch 93% · Net ↓12M/s ↑900/s ·
    up 3d 4h'; a figure not known yet (a rate before the second read) is a dash. None without a report."""
    if basics is None:
        return None
    if basics.error is not None:
        return Text(f"vitals: {basics.error}", style="yellow")
    cpus = f" of {basics.cpus}" if basics.cpus is not None else ""
    parts = [f"CPU {_pct(basics.cpu_pct)}{cpus}"]
    used, total = basics.mem_used_kib, basics.mem_total_kib
    parts.append(
        f"Mem {short_bytes(used * 1024)}/{short_bytes(total * 1024)}"
        if used is not None and total
        else "Mem –"
    )
    parts.append("Load " + (" ".join(f"{load:.2f}" for load in basics.load) if basics.load else UNKNOWN))
    disks = [f"{disk.path} {_pct(disk.used_pct)}" for disk in basics.disks]
    if disks:
        parts.append("Disk " + " ".join(disks))
    rx, tx = basics.net_rx_bps, basics.net_tx_bps
    parts.append(
        f"Net ↓{short_bytes(rx)}/s ↑{short_bytes(tx)}/s" if rx is not None and tx is not None else "Net –"
    )
    if basics.uptime_s is not None:
        parts.append(f"up {_uptime(basics.uptime_s)}")
    return Text(" · ".join(parts), style="dim")


def _uptime(seconds: float) -> str:
    minutes = int(seconds // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    return f"{hours}h {minutes}m" if hours else f"{minutes}m"
