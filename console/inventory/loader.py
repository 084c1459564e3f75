"""Load an inventory YAML file (version 1) into the frozen models, reporting every problem with its line.

The YAML is composed, not constructed, so every key keeps its line. A generic converter turns a mapping
into a "partial" of any frozen dataclass by reading its type hints; the partials of `defaults` and of each
node merge key by key and are then built over the model's own defaults. A section's key under a node is
not named here: the loader iterates the registered `SectionSettings` (settings.py: its type and the checks
of its values), and a system's top-level key (`prometheus`, `racks`, `slurm`, ...) is a registered `TopKey`
(toplevel.py: how it is read and cross-checked against the nodes). Reading and composing, with every
resource bounded, is source.py; checks across a merged node are crosscheck.py.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import gc
import math
import os
import types
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

import yaml
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

from console.text import clean_line, has_control

from .crosscheck import check_nodes
from .model import DISCOVERED_GROUP, FleetSettings, Inventory, Node
from .partial import INVALID, Builder, Partial, join, merge
from .rules import CHECKS, NODE_NAME_RE, NORMALISE, Check, quote
from .settings import registered_settings
from .source import read_document
from .toplevel import TopRead, registered_top_keys

SUPPORTED_VERSION = 1
_FRAME = ("version", "name", "defaults", "groups", "nodes")  # the file's own keys; the rest: toplevel.py
_TAG = "tag:yaml.org,2002:"
_KEY_LIMIT = 200  # a key path in a message; node names and keys come from the file


@dataclass(frozen=True, slots=True)
class InventoryProblem:
    path: str  # as the caller gave it
    line: int | None  # 1-based
    key: str  # dotted key path; "" for whole-file problems
    message: str

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class InventoryError(Exception):
    """The first problem in the file; `errors` lists every problem found, in line order."""

    def __init__(
        self, path: str, line: int | None, key: str, message: str, errors: tuple[InventoryProblem, ...] = ()
    ) -> None:
        first = InventoryProblem(path, line, key, message)
        super().__init__(str(first))
        self.path, self.line, self.key, self.message = path, line, key, message
        self.errors: tuple[InventoryProblem, ...] = errors or (first,)

    def __reduce__(self) -> tuple[type[InventoryError], tuple[Any, ...]]:  # keep it picklable
        return (type(self), (self.path, self.line, self.key, self.message, self.errors))


@functools.cache
def _hints(tp: type) -> dict[str, Any]:
    return get_type_hints(tp)


def _node_hints() -> dict[str, Any]:
    """A node's keys and their types: Node's fields (a section's when it is one) and the plug-in sections'
    keys (built into `Node.plugins`)."""
    hints = {name: hint for name, hint in _hints(Node).items() if name != "plugins"}
    for settings in registered_settings():
        hints.setdefault(settings.key, settings.hint)
    return hints


def _defaultable() -> tuple[str, ...]:
    """What `defaults` (every node) and `groups.NAME` (that group's nodes) may set: every registered node
    key that is defaultable (the sections', the systems' (`rack`) and the node's own: toplevel.py)."""
    return tuple(settings.key for settings in registered_settings() if settings.defaultable)


def _top_keys() -> tuple[str, ...]:
    return _FRAME + tuple(key.key for key in registered_top_keys())


def __getattr__(name: str) -> Any:
    if name == "_TOP_KEYS":  # every top-level key the loader takes, as registered now
        return _top_keys()
    raise AttributeError(name)


def _required(f: dataclasses.Field[Any]) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def _is_null(node: Any) -> bool:
    return isinstance(node, ScalarNode) and node.tag == _TAG + "null"


def _describe(node: Any) -> str:
    if not isinstance(node, ScalarNode):
        return "a mapping" if isinstance(node, MappingNode) else "a list"
    kinds = {"null": "null", "bool": "a boolean", "int": "an integer", "float": "a number"}
    return kinds.get(node.tag.removeprefix(_TAG)) or quote(node.value)


class _Converter:
    def __init__(self, path: str) -> None:
        self.path = path
        self.problems: list[InventoryProblem] = []
        self._scalars = yaml.constructor.SafeConstructor()
        self._pairs: dict[int, tuple[MappingNode, list[tuple[str, int, Any]]]] = {}

    def problem(self, line: int | None, key: str, message: str) -> None:
        # Keys and messages quote the file (node names, values): never let its bytes reach a terminal raw.
        key, message = clean_line(key, limit=_KEY_LIMIT), clean_line(message)
        self.problems.append(InventoryProblem(self.path, line, key, message))

    def pairs(self, node: MappingNode, key: str) -> list[tuple[str, int, Any]]:
        """(name, line, value node) per key, `<<` merge keys applied; duplicate keys are reported.

        Memoised per mapping: a merge source used by many mappings is read once (and its problems reported
        once). The composer refuses documents whose merges expand past its limit, so this stays bounded."""
        cached = self._pairs.get(id(node))
        if cached is not None and cached[0] is node:
            return cached[1]
        own: dict[str, tuple[int, Any]] = {}
        merged: dict[str, tuple[int, Any]] = {}
        merge_line: int | None = None
        for knode, vnode in node.value:
            line = knode.start_mark.line + 1
            if knode.tag == _TAG + "merge":
                if merge_line is not None:
                    self.problem(line, join(key, "<<"), f"duplicate key (first defined on line {merge_line})")
                merge_line = merge_line or line
                for src in vnode.value if isinstance(vnode, SequenceNode) else [vnode]:
                    if not isinstance(src, MappingNode):
                        self.problem(line, join(key, "<<"), "expected a mapping or a list of mappings")
                        continue
                    for name, sline, value in self.pairs(src, key):
                        merged.setdefault(name, (sline, value))  # earlier sources win, as in YAML
            elif not isinstance(knode, ScalarNode) or _is_null(knode):
                self.problem(line, key, "keys must be strings")
            elif knode.value in own:
                first = own[knode.value][0]
                self.problem(line, join(key, knode.value), f"duplicate key (first defined on line {first})")
            else:
                own[knode.value] = (line, vnode)
        result = [(name, line, value) for name, (line, value) in (merged | own).items()]
        self._pairs[id(node)] = (node, result)
        return result

    def mapping(
        self, node: Any, tp: type, key: str, line: int | None, allowed: Collection[str] | None = None
    ) -> Partial | None:
        if not isinstance(node, MappingNode):
            self.problem(line, key, f"expected a mapping, got {_describe(node)}")
            return None
        hints = _node_hints() if tp is Node else _hints(tp)
        part = Partial(tp, line, key)
        for name, kline, vnode in self.pairs(node, key):
            sub = join(key, name)
            if name not in hints:
                self.problem(kline, sub, "unknown key")
            elif allowed is not None and name not in allowed:
                self.problem(kline, sub, "not allowed here")
            else:
                rules = CHECKS.get((tp, name)), NORMALISE.get((tp, name))
                part.values[name] = self.value(vnode, hints[name], sub, kline, *rules)
                part.origins[name] = (kline, sub)
        return part

    def value(
        self,
        node: Any,
        hint: Any,
        key: str,
        line: int,
        check: Check | None = None,
        normal: Any = None,
    ) -> Any:
        """`node` converted to `hint`, or INVALID after reporting why it does not fit.

        A list keeps its invalid items as INVALID, so the checks across items (duplicates) still see the
        valid ones; building a list with an INVALID item fails."""
        origin, args = get_origin(hint), get_args(hint)
        if origin in (Union, types.UnionType):
            if _is_null(node) and type(None) in args:
                return None
            (hint,) = (a for a in args if a is not type(None))  # only `X | None` unions are supported
            origin, args = get_origin(hint), get_args(hint)
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            return self.mapping(node, hint, key, line) or INVALID
        if origin is tuple:
            if not isinstance(node, SequenceNode):
                self.problem(line, key, f"expected a list, got {_describe(node)}")
                return INVALID
            items = []
            for i, item in enumerate(node.value):
                sub, sline = f"{key}[{i}]", item.start_mark.line + 1
                items.append(self.complete(self.value(item, args[0], sub, sline, check, normal), sub, sline))
            return tuple(items)
        expected, result = self.scalar(node, hint, origin, args)
        message = f"expected {expected}, got {_describe(node)}" if expected else check and check(result)
        if message:
            self.problem(line, key, message)
            return INVALID
        return normal(result) if normal else result

    def complete(self, value: Any, key: str, line: int | None) -> Any:
        """A list item or top-level section has no defaults under it: its required keys must be set."""
        if not isinstance(value, Partial):
            return value
        for f in dataclasses.fields(value.tp):
            if _required(f) and f.name not in value.values:
                self.problem(line, join(key, f.name), "missing required key")
                value.broken = True
        return value

    def scalar(self, node: Any, hint: Any, origin: Any, args: tuple[Any, ...]) -> tuple[str, Any]:
        """("", converted value), or (what was expected, None) on a mismatch."""
        tag = node.tag.removeprefix(_TAG) if isinstance(node, ScalarNode) else ""
        if origin is Literal:
            ok = tag == "str" and node.value in args
            return ("", node.value) if ok else ("one of " + ", ".join(map(str, args)), None)
        if hint is str:
            # Numbers are taken as written (`model: 4090`, `user: 0755`); null and booleans are mistakes.
            if tag in ("", "null", "bool") or str(node.value).strip() == "":
                return ("a non-empty string", None)
            # "gpu1\n", an escape sequence, a bidi mark: never a name, path or host (console.text's rule).
            if has_control(node.value):
                return ("a string without control characters or line breaks", None)
            return ("", str(node.value))
        wanted = {bool: ("bool",), int: ("int",), float: ("int", "float")}[hint]
        if tag not in wanted:
            return ({bool: "true or false", int: "an integer", float: "a number"}[hint], None)
        result = self._scalars.construct_object(node)
        if hint is float:
            result = float(result)
            return ("", result) if math.isfinite(result) else ("a finite number", None)
        return ("", result)


@contextlib.contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Composing builds hundreds of thousands of acyclic objects; the cycle collector would walk them all,
    again and again, for nothing (a 4 MiB inventory: 21 s with it, 7 s without, bench/inventory_load.py)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def load_inventory(path: str | os.PathLike[str]) -> Inventory:
    """Read, validate and merge an inventory file; raise InventoryError listing every problem.

    Every problem is found in one pass: structure, values, cross-references (`prometheus.via`, jumps),
    thresholds, loops and duplicates are all checked even where other parts of the same node are wrong."""
    shown = os.fspath(path)
    conv = _Converter(shown)
    with _no_cyclic_gc():
        root, refused = read_document(shown)
        inventory = None
        if refused is not None:
            conv.problem(refused.line, "", refused.message)
        else:
            inventory = _convert(conv, root, shown)
    if inventory is None or conv.problems:
        problems = sorted(dict.fromkeys(conv.problems), key=lambda p: p.line or 0)  # deduplicated
        first = problems[0]
        raise InventoryError(first.path, first.line, first.key, first.message, tuple(problems))
    return inventory


def _convert(conv: _Converter, root: Any, path: str) -> Inventory | None:
    if not isinstance(root, MappingNode):
        line = None if root is None else root.start_mark.line + 1
        got = "an empty file" if root is None else _describe(root)
        conv.problem(line, "", f"expected a mapping at the top level, got {got}")
        return None
    top = {name: (line, value) for name, line, value in conv.pairs(root, "")}
    known = _top_keys()
    for name, (line, _) in top.items():
        if name not in known:
            conv.problem(line, name, "unknown key")
    version = top.get("version")
    if version is None:
        conv.problem(None, "version", f"missing required key (use version: {SUPPORTED_VERSION})")
    elif version[1].tag != _TAG + "int":
        got = _describe(version[1])
        conv.problem(version[0], "version", f"expected the integer {SUPPORTED_VERSION}, got {got}")
    elif version[1].value != str(SUPPORTED_VERSION):
        message = f"unsupported version {quote(version[1].value)[1:-1]} (this release reads version 1)"
        conv.problem(version[0], "version", message)
    name = conv.value(top["name"][1], str, "name", top["name"][0]) if "name" in top else Path(path).stem
    defaults = Partial(Node, None, "defaults")
    if "defaults" in top and not _is_null(top["defaults"][1]):  # an all-commented-out `defaults:` is fine
        line, vnode = top["defaults"]
        defaults = conv.mapping(vnode, Node, "defaults", line, _defaultable()) or defaults
    groups = _convert_groups(conv, top.get("groups"))
    keys = registered_top_keys()
    read = TopRead(conv, top)
    for key in (key for key in keys if key.before_nodes):
        read.values[key.key] = key.read(read)
    # A fleet read from Prometheus may list no node at all: every one it has comes from the series.
    discovered = any(
        key.nodes_optional(read.values[key.key]) for key in keys if key.before_nodes and key.nodes_optional
    ) and ("nodes" not in top or _is_null(top["nodes"][1]) or not getattr(top["nodes"][1], "value", True))
    nodes, names = (
        ((), frozenset()) if discovered else _convert_nodes(conv, top.get("nodes"), defaults, groups)
    )
    read.nodes, read.names = nodes, names
    for key in (key for key in keys if not key.before_nodes):
        read.values[key.key] = key.read(read)
    for key in keys:
        if key.finish is not None:
            key.finish(read)
    kept = {key.key: read.values[key.key] for key in keys if key.keep}
    if (not read.nodes and not discovered) or name is INVALID or any(v is INVALID for v in kept.values()):
        return None
    fleet = read.values.get("fleet")
    template = None
    if isinstance(fleet, FleetSettings) and fleet.source == "prometheus":
        template = _discovered_node(conv, defaults, groups, checked=bool(read.nodes))
    fields = {f.name for f in dataclasses.fields(Inventory)}
    plugins = tuple(sorted((k, v) for k, v in kept.items() if k not in fields and v is not None))
    return Inventory(
        name=name,
        path=path,
        nodes=read.nodes,
        **{k: v for k, v in kept.items() if k in fields},
        plugins=plugins,
        discovered_node=template,
    )


def _discovered_node(
    conv: _Converter, defaults: Partial, groups: dict[str, Partial], *, checked: bool
) -> Node | None:
    """What `defaults`, then the group DISCOVERED_GROUP, give a node found in Prometheus's series (None: they
    do not build; their problems are reported). `checked`: the nodes' own checks already saw `defaults`."""
    merged = merge(defaults, groups[DISCOVERED_GROUP]) if DISCOVERED_GROUP in groups else defaults
    part = Partial(Node, merged.line, merged.key, dict(merged.values), dict(merged.origins), merged.broken)
    if not checked or DISCOVERED_GROUP in groups:
        check_nodes(conv.problem, {f"({DISCOVERED_GROUP})": part})
    part.values.update(name="discovered", host="discovered")  # replaced by each node's series name
    built = Builder().build(part, None)
    if built is INVALID:
        return None
    node: Node = dataclasses.replace(built, groups=(DISCOVERED_GROUP,))
    return node


def _convert_groups(conv: _Converter, entry: tuple[int, Any] | None) -> dict[str, Partial]:
    """`groups: {NAME: {...}}`: settings merged over defaults for every node in that group."""
    if entry is None or _is_null(entry[1]):
        return {}
    if not isinstance(entry[1], MappingNode):
        conv.problem(
            entry[0], "groups", f"expected a mapping of group name to settings, got {_describe(entry[1])}"
        )
        return {}
    groups = {}
    for name, line, vnode in conv.pairs(entry[1], "groups"):
        part = conv.mapping(vnode, Node, f"groups.{name}", line, _defaultable())
        if part is not None:
            groups[name] = part
    return groups


def _convert_nodes(
    conv: _Converter, entry: tuple[int, Any] | None, defaults: Partial, groups: dict[str, Partial]
) -> tuple[tuple[Node, ...], frozenset[str]]:
    """The nodes that built, and the names of every node in the file (built or not) for cross-references."""
    if entry is None:
        conv.problem(None, "nodes", "missing required key (a mapping of node name to node)")
        return (), frozenset()
    if not isinstance(entry[1], MappingNode) or not entry[1].value:
        got = "an empty mapping" if isinstance(entry[1], MappingNode) else _describe(entry[1])
        conv.problem(entry[0], "nodes", f"expected a mapping of node name to node, got {got}")
        return (), frozenset()
    builder = Builder()
    built: list[Node] = []
    merged_all: dict[str, Partial] = {}
    names: set[str] = set()
    body_keys = [name for name in _node_hints() if name not in ("name", "plugins")]  # name: the node's key
    for name, line, vnode in conv.pairs(entry[1], "nodes"):
        key = f"nodes.{name}"
        names.add(name)
        if not NODE_NAME_RE.fullmatch(name):
            conv.problem(line, key, "node names must start with a letter or digit and use only A-Za-z0-9_.-")
        part = conv.mapping(vnode, Node, key, line, body_keys)
        if part is None:
            continue
        merged = defaults
        member_of = part.values.get("groups", defaults.values.get("groups", ()))
        for group in member_of if isinstance(member_of, tuple) else ():
            if group in groups:  # defaults, then each group in the node's order, then the node itself
                merged = merge(merged, groups[group])
        merged = merge(merged, part)
        merged_all[name] = merged
        transport = merged.values.get("transport", "ssh")
        if "host" not in merged.values:
            if transport == "ssh":
                conv.problem(line, f"{key}.host", "missing required key (needed for transport ssh)")
                continue
            merged.values["host"] = "localhost" if transport == "local" else INVALID
        merged.values["name"] = name
        node = builder.build(merged, None)
        if node is not INVALID:
            built.append(node)
    check_nodes(conv.problem, merged_all)
    return tuple(built), frozenset(names)
