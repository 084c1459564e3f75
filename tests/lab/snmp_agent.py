"""A real SNMP agent serving real PDU data: snmpsim's command responder with the APC rack-PDU walks that
the `snmpsim-data` package ships (`UPS/apc-8641.snmprec`, `apc-8932`, `apc-7902b`: walks of real AP8641,
AP8932 and AP7902B units). The community is a walk's file name (`apc-8641`).

snmpsim runs as root only to bind, then drops to nobody (LAB-NOTES): so it runs from a venv made from Debian's
/usr/bin/python3 (.ci/run builds LAB_VENV), and its data and cache folders are made readable by that user.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.lab.common import LAB_HOST, LabError

LAB_VENV = Path("/opt/opsconsole-lab-venv")
RESPONDER = LAB_VENV / "bin" / "snmpsim-command-responder"
WALKS = ("apc-8641", "apc-8932", "apc-7902b")
START_TIMEOUT_S = 30.0
V3_USER, V3_AUTH_KEY, V3_PRIV_KEY = "opsconsole", "auth-key-of-the-lab", "priv-key-of-the-lab"


def walk_dir() -> Path:
    found = sorted(LAB_VENV.glob("lib/python3*/site-packages/snmpsim_data/data/UPS"))
    if not found:
        raise LabError(f"snmpsim-data is not installed in {LAB_VENV} (.ci/run installs it)")
    return found[0]


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((LAB_HOST, 0))
        port: int = sock.getsockname()[1]
        return port


class SnmpAgent:
    """snmpsim on 127.0.0.1:port serving the real APC walks, and any extra walk a test writes."""

    def __init__(self, extra: dict[str, str] | None = None) -> None:
        self.extra = extra or {}
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.root = Path(tempfile.mkdtemp(prefix="opsconsole-snmp-"))  # not under pytest's 0700 tmp

    def start(self) -> None:
        if not RESPONDER.exists():
            raise LabError(f"{RESPONDER} is missing (.ci/run installs snmpsim into {LAB_VENV})")
        data, cache = self.root / "data", self.root / "cache"
        data.mkdir()
        cache.mkdir()
        for name in WALKS:
            shutil.copyfile(walk_dir() / f"{name}.snmprec", data / f"{name}.snmprec")
        for name, text in self.extra.items():
            (data / f"{name}.snmprec").write_text(text, encoding="ascii")
        os.chmod(self.root, 0o755)
        os.chmod(data, 0o755)
        for path in data.iterdir():
            os.chmod(path, 0o644)
        shutil.chown(cache, "nobody", "nogroup")
        self.port = _free_udp_port()
        log = open(self.root / "snmpsim.log", "wb")  # noqa: SIM115 - the agent writes it until stop()
        self.process = subprocess.Popen(
            [
                str(RESPONDER),
                f"--data-dir={data}",
                f"--cache-dir={cache}",
                f"--agent-udpv4-endpoint={LAB_HOST}:{self.port}",
                # SNMPv3: a SHA/AES user; a walk is picked by context name (its file name).
                f"--v3-user={V3_USER}",
                f"--v3-auth-key={V3_AUTH_KEY}",
                "--v3-auth-proto=SHA",
                f"--v3-priv-key={V3_PRIV_KEY}",
                "--v3-priv-proto=AES",
                "--process-user=nobody",
                "--process-group=nogroup",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self._wait_ready()

    def _wait_ready(self) -> None:
        """Ask for sysName until the agent answers (it indexes the walks first: a few seconds)."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise LabError(f"snmpsim exited ({self.process.returncode}): {self.log()[-2000:]}")
            if asyncio.run(self._answers()):
                return
        raise LabError(f"snmpsim did not answer within {START_TIMEOUT_S:g}s: {self.log()[-2000:]}")

    async def _answers(self) -> bool:
        from pysnmp.hlapi.v3arch import asyncio as snmp

        engine = snmp.SnmpEngine()
        try:
            target = await snmp.UdpTransportTarget.create((LAB_HOST, self.port), timeout=0.5, retries=0)
            error, status, _, _ = await snmp.get_cmd(
                engine,
                snmp.CommunityData(WALKS[0], mpModel=1),
                target,
                snmp.ContextData(),
                snmp.ObjectType(snmp.ObjectIdentity("1.3.6.1.2.1.1.5.0")),
            )
            return error is None and not status
        finally:
            engine.close_dispatcher()

    def log(self) -> str:
        try:
            return (self.root / "snmpsim.log").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=5)
        shutil.rmtree(self.root, ignore_errors=True)
