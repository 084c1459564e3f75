"""The recorded fleet's host vitals and containers' cost: what the basics shell would read on such nodes.

Deterministic: each node's size comes from its name, its load follows the GPU duty cycle (a busy node's
CPUs feed its GPUs), and every running container costs a fixed share. The first recorded poll has no rates,
as the first read of a real node has none.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from console.model.basics import DiskUse, NodeBasics
from console.model.docker import ContainerCost, ContainerInfo

GIB_KIB = 1024 * 1024
TIB = 1024**4


def _seed(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "big")


def recorded_basics(
    node: str, containers: tuple[ContainerInfo, ...], step: int, at: datetime, busy: bool
) -> NodeBasics:
    seed = _seed(node)
    cpus = (64, 96, 128, 192)[seed % 4]
    total_kib = (512, 1024, 2048)[seed % 3] * GIB_KIB
    first = step == 0
    cpu_pct = (38.0 + seed % 23 + (step % 5)) if busy else (3.0 + seed % 5 + (step % 3) * 0.5)
    used_kib = total_kib * (0.42 + (seed % 30) / 100 + (0.08 if busy else 0.0))
    load = cpus * cpu_pct / 100
    root_used = 0.31 + (seed % 20) / 100
    scratch_used = 0.55 + (seed % 44) / 100
    disks = (
        DiskUse("/", "ext4", TIB, int(TIB * (1 - root_used)), int(TIB * root_used)),
        DiskUse("/scratch", "xfs", 8 * TIB, int(8 * TIB * (1 - scratch_used)), int(8 * TIB * scratch_used)),
    )
    costs = []
    for number, container in enumerate(containers):
        if container.state != "running":
            continue
        share = (180.0 + 35 * number) if busy and number == 0 else (2.5 + number)
        costs.append(
            ContainerCost(
                container.id,
                "v2",
                cpu_pct=None if first else share,
                cpu_limit=8.0 if number == 0 else None,
                cpu_unlimited=number != 0,
                mem_used_bytes=(24 + 3 * number) * 1024**3 if number == 0 else (512 + 64 * number) * 1024**2,
                mem_limit_bytes=64 * 1024**3 if number == 0 else None,
                mem_unlimited=number != 0,
            )
        )
    return NodeBasics(
        node,
        at,
        load=(round(load, 2), round(load * 0.9, 2), round(load * 0.8, 2)),
        cpus=cpus,
        mem_total_kib=total_kib,
        mem_available_kib=int(total_kib - used_kib),
        swap_total_kib=0,
        swap_free_kib=0,
        uptime_s=38 * 86400 + seed % 86400 + 2.0 * step,
        kernel="6.8.0-49-generic",
        hostname=node,
        disks=disks,
        disks_at=at,
        cpu_pct=None if first else round(cpu_pct, 1),
        net_rx_bps=None if first else (1.9e9 if busy else 2.1e6) * (1 + (seed % 7) / 10),
        net_tx_bps=None if first else (3.2e8 if busy else 4.5e5) * (1 + (seed % 5) / 10),
        containers=tuple(costs),
        duration_s=0.002,
    )
