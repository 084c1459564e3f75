"""A real Redfish service: sushy-tools' `sushy-static` serving the BMC tree in tests/fixtures/redfish/bmc
(written by hand from the DMTF schema: no DMTF mockups offline; see its README.md). Plain HTTP, or HTTPS with
a throwaway self-signed certificate made by openssl.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.lab.common import LAB_HOST, LabError
from tests.lab.network import _free_port
from tests.lab.snmp_agent import LAB_VENV

SUSHY_STATIC = LAB_VENV / "bin" / "sushy-static"
MOCKUP = Path(__file__).resolve().parent.parent / "fixtures" / "redfish" / "bmc"
START_TIMEOUT_S = 20.0


class RedfishBmc:
    def __init__(self, *, tls: bool = False) -> None:
        self.tls = tls
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.root = Path(tempfile.mkdtemp(prefix="opsconsole-redfish-"))

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{LAB_HOST}:{self.port}"

    def start(self) -> None:
        if not SUSHY_STATIC.exists():
            raise LabError(f"{SUSHY_STATIC} is missing (.ci/run installs sushy-tools into {LAB_VENV})")
        args = [str(SUSHY_STATIC), "-i", LAB_HOST, "-m", str(MOCKUP)]
        if self.tls:
            cert, key = self.root / "cert.pem", self.root / "key.pem"
            subprocess.run(
                ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                 f"/CN={LAB_HOST}", "-keyout", str(key), "-out", str(cert)],
                check=True, capture_output=True,
            )  # fmt: skip
            args += ["--ssl-certificate", str(cert), "--ssl-key", str(key)]
        self.port = _free_port()
        log = open(self.root / "sushy.log", "wb")  # noqa: SIM115 - the server writes it until stop()
        self.process = subprocess.Popen(
            [*args, "-p", str(self.port)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        self._wait_ready()

    def _wait_ready(self) -> None:
        """GET the service root until it answers 200 (never a blind sleep)."""
        import ssl

        context = ssl._create_unverified_context() if self.tls else None
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise LabError(f"sushy-static exited ({self.process.returncode}): {self.log()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/redfish/v1/", timeout=1, context=context) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                time.sleep(0.05)  # not listening yet: ask again
        raise LabError(f"sushy-static did not answer within {START_TIMEOUT_S:g}s: {self.log()[-2000:]}")

    def log(self) -> str:
        try:
            return (self.root / "sushy.log").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=5)
        shutil.rmtree(self.root, ignore_errors=True)
