"""A DCGM-style exporter as a pod runs it: `python3 -m tests.lab.pod_exporter PORT [HOSTNAME]` serves the
lab's dcgm-exporter series (tests/lab/exporter.py, from the real H100 capture) on 127.0.0.1:PORT of whatever
network namespace it starts in, prints "ready" once listening, and serves until killed. Started in a lab
node's own namespace, only that node's loopback reaches it: from the workstation, only an SSH tunnel does.
"""

from __future__ import annotations

import sys
import threading

from prometheus_client import start_http_server

from tests.lab.exporter import DCGM_HOSTNAME, _dcgm_registry


def main() -> None:
    port = int(sys.argv[1])
    hostname = sys.argv[2] if len(sys.argv) > 2 else DCGM_HOSTNAME
    start_http_server(port, addr="127.0.0.1", registry=_dcgm_registry(hostname))
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    threading.Event().wait()  # the server's thread serves; this one waits to be killed


if __name__ == "__main__":
    main()
