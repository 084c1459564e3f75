"""The core runs without the TUI: importing all of console/ must not load textual."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_core_never_imports_textual() -> None:
    modules = sorted(
        ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for path in (ROOT / "console").rglob("*.py")
        if path.name != "__main__.py"
    )
    code = "import sys\n" + "".join(f"import {m}\n" for m in modules) + "print('textual' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", modules


def test_widgets_do_no_io_imports() -> None:
    banned = ("asyncssh", "aiodocker", "prometheus_api_client", "console.transport", "console.fleet")
    for path in (ROOT / "widgets").rglob("*.py"):
        for line in path.read_text().splitlines():
            stripped = line.strip()
            if stripped.startswith(("import ", "from ")):
                assert not any(stripped.split()[1].startswith(name) for name in banned), f"{path}: {line}"
