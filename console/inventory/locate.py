"""Find the inventory to load: -i PATH, $OPSCONSOLE_INVENTORY, the XDG config file, bundled `local`.

`-i` and $OPSCONSOLE_INVENTORY take a path, or the name of a bundled example (`-i pantheon`) when no file of
that name exists: after `pip install` the examples live inside the package, not beside the user.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from importlib.resources import files
from pathlib import Path

from console.paths import config_dir, home

from .loader import InventoryError

ENV_VAR = "OPSCONSOLE_INVENTORY"
DEFAULT_BUNDLED = "local"
_BUNDLED_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


def _expand(value: str, environ: Mapping[str, str]) -> Path:
    """Expand a leading `~` (quoted values in env files and `-i=~/x` reach us unexpanded)."""
    if value == "~" or value.startswith("~/"):
        return home(environ) / value[2:]
    return Path(value)


def config_inventory_path(environ: Mapping[str, str] = os.environ) -> Path:
    """$XDG_CONFIG_HOME/opsconsole/inventory.yaml; a relative XDG_CONFIG_HOME is ignored, per the XDG spec."""
    return config_dir(environ) / "inventory.yaml"


def bundled_names() -> tuple[str, ...]:
    """The example inventories shipped in the `inventories` package, by name, sorted."""
    package = files("inventories")
    return tuple(sorted(p.name.removesuffix(".yaml") for p in package.iterdir() if p.name.endswith(".yaml")))


def bundled_inventory(name: str) -> Path:
    """The path of an example inventory shipped in the `inventories` package, e.g. "local" or "pantheon"."""
    resource = files("inventories") / f"{name}.yaml"
    if not _BUNDLED_NAME_RE.fullmatch(name) or not resource.is_file():
        known = ", ".join(bundled_names())
        raise InventoryError(name, None, "", f"no bundled inventory of that name (known: {known})")
    if not isinstance(resource, Path):  # e.g. imported from a zip: there is no file to hand to the loader
        raise InventoryError(name, None, "", "bundled inventories are not installed as regular files")
    return resource


def bundled_description(path: Path) -> str:
    """An example's one-line description: the first comment line at the top of its file."""
    with path.open(encoding="utf-8") as text:
        for line in text:
            if line.startswith("#"):
                return line.lstrip("#").strip()
            if line.strip():
                break
    return ""


def _path_or_bundled(value: str, environ: Mapping[str, str]) -> Path:
    """A path as given; a bare name that is no file here but names a bundled example is that example."""
    path = _expand(value, environ)
    if path.exists() or not _BUNDLED_NAME_RE.fullmatch(value):
        return path  # a missing path is the loader's to report, naming it
    if value in bundled_names():
        return bundled_inventory(value)
    why = f"no such file, and no bundled inventory of that name (bundled: {', '.join(bundled_names())})"
    raise InventoryError(value, None, "", why)


def locate_with_source(cli_path: str | None, environ: Mapping[str, str] = os.environ) -> tuple[Path, str]:
    """`locate_inventory` and where its answer came from ("-i", "$OPSCONSOLE_INVENTORY", ...), for people."""
    if cli_path is not None:
        return _path_or_bundled(cli_path, environ), "-i"
    if environ.get(ENV_VAR):
        return _path_or_bundled(environ[ENV_VAR], environ), f"${ENV_VAR}"
    config = config_inventory_path(environ)
    if config.is_file():
        return config, "the config file"
    return bundled_inventory(DEFAULT_BUNDLED), "the bundled default"


def locate_inventory(cli_path: str | None, environ: Mapping[str, str] = os.environ) -> Path:
    """The inventory to load, first match wins: -i PATH or NAME, $OPSCONSOLE_INVENTORY (path or name), the
    XDG config file (only if it exists), then the bundled `local` inventory. Explicit paths are returned even
    if missing, so the loader reports them instead of silently falling back."""
    return locate_with_source(cli_path, environ)[0]
