"""Find the inventory to load: -i PATH, $OPSCONSOLE_INVENTORY, the XDG config file, bundled `local`."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from importlib.resources import files
from pathlib import Path

from .loader import InventoryError

ENV_VAR = "OPSCONSOLE_INVENTORY"
_BUNDLED_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


def _home(environ: Mapping[str, str]) -> Path:
    # Read HOME from `environ` (not os.environ) so callers and tests fully control the lookup.
    return Path(environ["HOME"]) if environ.get("HOME") else Path.home()


def _expand(value: str, environ: Mapping[str, str]) -> Path:
    """Expand a leading `~` (quoted values in env files and `-i=~/x` reach us unexpanded)."""
    if value == "~" or value.startswith("~/"):
        return _home(environ) / value[2:]
    return Path(value)


def config_inventory_path(environ: Mapping[str, str] = os.environ) -> Path:
    """$XDG_CONFIG_HOME/opsconsole/inventory.yaml; a relative XDG_CONFIG_HOME is ignored, per the XDG spec."""
    xdg = environ.get("XDG_CONFIG_HOME", "")
    base = Path(xdg) if os.path.isabs(xdg) else _home(environ) / ".config"
    return base / "opsconsole" / "inventory.yaml"


def bundled_inventory(name: str) -> Path:
    """The path of an example inventory shipped in the `inventories` package, e.g. "local" or "pantheon"."""
    package = files("inventories")
    resource = package / f"{name}.yaml"
    if not _BUNDLED_NAME_RE.match(name) or not resource.is_file():
        known = sorted(p.name.removesuffix(".yaml") for p in package.iterdir() if p.name.endswith(".yaml"))
        raise InventoryError(name, None, "", f"no bundled inventory of that name (known: {', '.join(known)})")
    if not isinstance(resource, Path):  # e.g. imported from a zip: there is no file to hand to the loader
        raise InventoryError(name, None, "", "bundled inventories are not installed as regular files")
    return resource


def locate_inventory(cli_path: str | None, environ: Mapping[str, str] = os.environ) -> Path:
    """The inventory to load, first match wins: -i PATH, $OPSCONSOLE_INVENTORY, the XDG config file
    (only if it exists), then the bundled `local` inventory. Explicit paths are returned even if missing,
    so the loader reports them instead of silently falling back."""
    if cli_path is not None:
        return _expand(cli_path, environ)
    if environ.get(ENV_VAR):
        return _expand(environ[ENV_VAR], environ)
    config = config_inventory_path(environ)
    if config.is_file():
        return config
    return bundled_inventory("local")
