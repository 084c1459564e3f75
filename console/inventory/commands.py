"""`opsconsole inventory check|list|init`: validate, list the bundled examples, copy one to edit.

    opsconsole inventory check [PATH|NAME]   # the file -i / $OPSCONSOLE_INVENTORY / XDG / bundled picks
    opsconsole inventory list                # bundled examples, and which file the lookup picks now
    opsconsole inventory init [NAME] [PATH] [--force]

Exit codes: 0 done, 1 the inventory has problems or the copy was refused (an existing file without
--force, an unknown example), each with one line per problem on stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from console.atomic import write_atomically
from console.inventory.loader import InventoryError, load_inventory
from console.inventory.locate import (
    DEFAULT_BUNDLED,
    bundled_description,
    bundled_inventory,
    bundled_names,
    config_inventory_path,
    locate_with_source,
)

EXIT_OK, EXIT_PROBLEM = 0, 1


def _out(line: str) -> None:
    sys.stdout.write(line + "\n")


def _err(line: str) -> None:
    sys.stderr.write(line + "\n")


def _problems(error: InventoryError) -> int:
    for problem in error.errors or (error,):
        _err(f"opsconsole: {problem}")
    return EXIT_PROBLEM


def _counted(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def inventory_check(given: str | None) -> int:
    """Validate the inventory `given` names, or the one the lookup picks (the same as every command)."""
    try:
        path, _ = locate_with_source(given)
        inventory = load_inventory(path)
    except InventoryError as error:
        return _problems(error)
    groups = ", ".join(inventory.groups) or "none"
    nodes = _counted(len(inventory.nodes), "node")
    _out(f"{path}: ok: inventory {inventory.name!r}, {nodes}, groups: {groups}")
    return EXIT_OK


def inventory_list(given: str | None) -> int:
    names = bundled_names()
    width = max(map(len, names), default=0)
    _out("bundled example inventories (use with -i NAME, or copy with `opsconsole inventory init NAME`):")
    for name in names:
        _out(f"  {name:<{width}}  {bundled_description(bundled_inventory(name))}")
    try:
        path, source = locate_with_source(given)
    except InventoryError as error:
        _out(f"the lookup picks nothing: {error}")
        return EXIT_PROBLEM
    _out(f"the lookup picks now: {path} (from {source})")
    return EXIT_OK


def _name_and_dest(name: str | None, dest: str | None) -> tuple[str, str | None]:
    # `init ./fleet.yaml`: one argument that is a path, not a bundled name, is where to write `local`.
    if dest is None and name is not None and name not in bundled_names() and (os.sep in name or "." in name):
        return DEFAULT_BUNDLED, name
    return name or DEFAULT_BUNDLED, dest


def inventory_init(name: str | None, dest: str | None, *, force: bool) -> int:
    name, dest = _name_and_dest(name, dest)
    try:
        source = bundled_inventory(name)
    except InventoryError as error:
        return _problems(error)
    target = Path(dest) if dest is not None else config_inventory_path()
    if dest is None:
        target.parent.mkdir(parents=True, exist_ok=True)
    shown = dest if dest is not None else str(target)
    if target.is_dir():
        _err(f"opsconsole: {shown}: is a directory")
        return EXIT_PROBLEM
    if not target.parent.is_dir():
        _err(f"opsconsole: {shown}: directory {target.parent} does not exist")
        return EXIT_PROBLEM
    if (target.exists() or target.is_symlink()) and not force:
        _err(f"opsconsole: {shown} exists: not overwritten (--force replaces it)")
        return EXIT_PROBLEM
    try:
        # A link at the target is replaced, not followed; --force keeps the replaced file's mode.
        write_atomically(target, source.read_bytes(), default_mode=0o644)
    except OSError as error:
        _err(f"opsconsole: cannot write {shown}: {error.strerror}")
        return EXIT_PROBLEM
    _out(f"wrote {target} (a copy of the bundled {name!r} inventory)")
    _out("edit it, then run `opsconsole inventory check`" + (f" {dest}" if dest is not None else ""))
    return EXIT_OK


def run_inventory_command(args: argparse.Namespace) -> int:
    if args.inventory_command == "list":
        return inventory_list(args.inventory)
    if args.inventory_command == "init":
        return inventory_init(args.name, args.dest, force=args.force)
    return inventory_check(args.path if args.path is not None else args.inventory)
