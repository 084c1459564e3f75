"""The floors hold at run time: the core loads without textual, a widget loads without the I/O libraries.

import-linter (`lint-imports`, contracts in pyproject.toml) checks the static graph; these tests import the
modules in a fresh interpreter, which also catches what a static graph cannot see: importing
`console.transport.base` runs `console/transport/__init__.py`, which imports the SSH transport and asyncssh.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
IO_LIBRARIES = ("asyncssh", "aiodocker", "aiohttp", "prometheus_api_client")

# Run in the child: import one module, then name each I/O library it loaded with the chain that loaded it.
_PROBE = """
import builtins, importlib, sys
loaded_by = {}
_import = builtins.__import__
def _tracing(name, globals=None, locals=None, fromlist=(), level=0):
    before = set(sys.modules)
    module = _import(name, globals, locals, fromlist, level)
    for new in set(sys.modules) - before:
        loaded_by.setdefault(new, (globals or {}).get("__name__"))
    return module
builtins.__import__ = _tracing
importlib.import_module(sys.argv[1])
for library in sys.argv[2:]:
    if library in sys.modules:
        chain = [library]
        while loaded_by.get(chain[-1]) not in (None, "__main__") and chain[-1] != sys.argv[1]:
            chain.append(loaded_by[chain[-1]])
        print(" -> ".join(reversed(chain)))
"""


def _modules(package: str) -> list[str]:
    return sorted(
        ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for path in (ROOT / package).rglob("*.py")
        if path.name not in ("__init__.py", "__main__.py")
    )


def test_core_never_imports_textual() -> None:
    modules = _modules("console")
    code = "import sys\n" + "".join(f"import {m}\n" for m in modules) + "print('textual' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", modules


@pytest.mark.parametrize("module", _modules("widgets"))
def test_widget_loads_no_io_library(module: str) -> None:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, module, *IO_LIBRARIES],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout == "", f"`import {module}` loads an I/O library:\n{out.stdout}"


def test_widgets_do_no_io_imports() -> None:
    banned = (*IO_LIBRARIES, "console.transport", "console.poll")
    for path in (ROOT / "widgets").rglob("*.py"):
        for line in path.read_text().splitlines():
            stripped = line.strip()
            if stripped.startswith(("import ", "from ")):
                assert not any(stripped.split()[1].startswith(name) for name in banned), f"{path}: {line}"


def test_import_contracts_hold() -> None:
    # The same check as `lint-imports` in .ci/run, so a plain pytest run sees a broken floor too.
    code = "import importlinter.cli as c; raise SystemExit(c.lint_imports(no_cache=True, no_logo=True))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
