"""A synthetic exporter for N nodes: node_exporter, dcgm-exporter and cAdvisor series in their real names and
labels, from one process, for a real Prometheus to scrape with `honor_labels: true` (each node's series keep
their own `instance`, as if scraped from that node).

Every figure is a function of the node's index and the time since start, so a test can say what Prometheus
must answer (`expected(i)`): CPU busy 5 + (i % 90) %, memory used 10 + (i % 80) %, load1 i % 16 + 0.25,
4 GPUs at util 3·(i % 30) %, hottest GPU 40 + (i % 50) °C, ... Counters grow at their rate from start, so
rate() sees exactly the rate. Two nodes are special: node 1's GPU model label carries an escape sequence and
markup (labels are remote text); the last node's series carry a fixed timestamp from start (a node whose
exporter stopped being fresh: Prometheus keeps the old sample, the console must call it stale).

Run as a process: `python3 -m tests.lab.fleet_exporter --nodes N --port P` (prints "ready" once listening).
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

GPUS = 4
CPUS = 4
GIB = 2**30
CONTAINERS = ("ollama", "open-webui", "comfyui")
HOSTILE_MODEL = "H100 \x1b]0;pwned\x07[bold red]x[/]"
# One more node_exporter series whose instance is an attack on the terminal (labels are remote text).
HOSTILE_INSTANCE = "\x1b]0;pwned\x07evil[/]\x1b[2J:9100"


def node_name(i: int) -> str:
    return f"gpu-{i:04d}"


def expected(i: int) -> dict[str, float]:
    """What the console must read for node i (rates and aggregates, as Prometheus computes them)."""
    mem_total = 512 * GIB
    return {
        "cpu_pct": 5.0 + (i % 90),
        "mem_total_bytes": float(mem_total),
        "mem_available_bytes": mem_total * (1 - (10 + i % 80) / 100),
        "load1": i % 16 + 0.25,
        "disk_fullest_pct": 20.0 + (i % 75),
        "net_rx_bps": 1e6 * (1 + i % 10),
        "net_tx_bps": 5e5 * (1 + i % 10),
        "gpu_count": GPUS,
        "gpu_util_pct": 3.0 * (i % 30) + 1.5,  # GPU g runs at base + g: the mean is base + 1.5
        "gpu_temp_max_c": 40.0 + (i % 50) + 3,  # GPU g runs at base + g: the hottest is base + 3
        "gpu_power_w": sum(100.0 + (i % 7) * 20 + g for g in range(GPUS)),
        "gpu_mem_used_mib": GPUS * 1024.0 * (1 + i % 60),
        "gpu_mem_total_mib": GPUS * 81559.0,
        "containers_running": len(CONTAINERS),
    }


def _labels(**labels: str) -> str:
    def escape(value: str) -> str:
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

    return "{" + ",".join(f'{key}="{escape(value)}"' for key, value in labels.items()) + "}"


class Fleet:
    def __init__(self, nodes: int, restart_every_s: float = 3.0) -> None:
        self.nodes = nodes
        self.started = time.time()
        self.restarted_every_s = restart_every_s  # node i % 7 == 0: its "comfyui" container restarts

    def metrics(self) -> str:
        now = time.time()
        frozen_ms = int(self.started * 1000)
        lines: list[str] = []
        add = lines.append
        for i in range(self.nodes):
            e = expected(i)
            name = node_name(i)
            frozen = i == self.nodes - 1 and self.nodes > 1
            # The frozen node repeats its first scrape exactly (same values, same timestamp): Prometheus
            # keeps that one old sample, as it does for a target whose exporter stopped updating.
            stamp = f" {frozen_ms}" if frozen else ""
            elapsed = 0.0 if frozen else now - self.started
            seen = self.started if frozen else now
            node = {"instance": f"{name}:9100", "job": "node"}
            busy = e["cpu_pct"] / 100
            for cpu in range(CPUS):
                add(
                    f"node_cpu_seconds_total{_labels(cpu=str(cpu), mode='idle', **node)} "
                    f"{1000 + elapsed * (1 - busy):.3f}{stamp}"
                )
                add(
                    f"node_cpu_seconds_total{_labels(cpu=str(cpu), mode='user', **node)} "
                    f"{500 + elapsed * busy:.3f}{stamp}"
                )
            add(f"node_memory_MemTotal_bytes{_labels(**node)} {e['mem_total_bytes']:.0f}{stamp}")
            add(f"node_memory_MemAvailable_bytes{_labels(**node)} {e['mem_available_bytes']:.0f}{stamp}")
            add(f"node_load1{_labels(**node)} {e['load1']}{stamp}")
            size = 2.0 * 2**40
            for mount, fstype, used_pct in (
                ("/", "ext4", 15.0),
                ("/scratch", "xfs", e["disk_fullest_pct"]),
                ("/mnt/models", "nfs4", 99.0),
                ("/run", "tmpfs", 98.0),
            ):
                fs = _labels(device=f"dev{mount}", fstype=fstype, mountpoint=mount, **node)
                add(f"node_filesystem_size_bytes{fs} {size:.0f}{stamp}")
                add(f"node_filesystem_avail_bytes{fs} {size * (1 - used_pct / 100):.0f}{stamp}")
            for device, share in (("eth0", 1.0), ("lo", 50.0), ("veth1a2b", 7.0)):
                labels = _labels(device=device, **node)
                rx = e["net_rx_bps"] * (share if device != "eth0" else 1.0)
                tx = e["net_tx_bps"] * (share if device != "eth0" else 1.0)
                add(f"node_network_receive_bytes_total{labels} {elapsed * rx:.0f}{stamp}")
                add(f"node_network_transmit_bytes_total{labels} {elapsed * tx:.0f}{stamp}")
            dcgm = {"instance": f"{name}:9400", "job": "dcgm", "Hostname": name}
            model = HOSTILE_MODEL if i == 1 else "NVIDIA H100 80GB HBM3"
            for g in range(GPUS):
                labels = _labels(
                    gpu=str(g), UUID=f"GPU-{i:04d}-{g}", device=f"nvidia{g}", modelName=model, **dcgm
                )
                used = 1024.0 * (1 + i % 60)
                add(f"DCGM_FI_DEV_GPU_UTIL{labels} {3 * (i % 30) + g}{stamp}")
                add(f"DCGM_FI_DEV_GPU_TEMP{labels} {40 + i % 50 + g}{stamp}")
                add(f"DCGM_FI_DEV_POWER_USAGE{labels} {100 + (i % 7) * 20 + g}{stamp}")
                add(f"DCGM_FI_DEV_FB_USED{labels} {used:.0f}{stamp}")
                add(f"DCGM_FI_DEV_FB_FREE{labels} {81559 - used:.0f}{stamp}")
            cadvisor = {"instance": f"{name}:8080", "job": "cadvisor"}
            for container in CONTAINERS:
                labels = _labels(name=container, image=f"lab/{container}", **cadvisor)
                start = self.started
                if container == "comfyui" and i % 7 == 0:
                    start += (elapsed // self.restarted_every_s) * self.restarted_every_s
                add(f"container_last_seen{labels} {seen:.3f}{stamp}")
                add(f"container_start_time_seconds{labels} {start:.3f}{stamp}")
        add(f"node_load1{_labels(instance=HOSTILE_INSTANCE, job='node')} 1")
        lines.append("")
        return "\n".join(lines)


def serve(nodes: int, port: int, restart_every_s: float = 3.0) -> None:
    fleet = Fleet(nodes, restart_every_s)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = fleet.metrics().encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # quiet: scrapes are not news
            return

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print("ready", flush=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        sys.stdin.read()  # until the parent closes our stdin (or dies)
    finally:
        server.shutdown()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--restart-every", type=float, default=3.0)
    args = parser.parse_args()
    serve(args.nodes, args.port, args.restart_every)
