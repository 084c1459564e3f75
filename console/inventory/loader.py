"""Load an inventory YAML file (version 1) into the frozen models, reporting every problem with its line.

The YAML is composed, not constructed, so every key keeps its line. A generic converter turns a mapping
into a "partial" of any frozen dataclass by reading its type hints; the partials of `defaults` and of each
node merge key by key and are then built over the model's own defaults. A new section (docker, mounts,
...) needs only a field on the model, plus a _CHECKS entry if its values need range checks.
"""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
import math
import os
import re
import types
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

import yaml
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

from console.wizards.settings import AiStackSettings

from .model import (
    GpuExpectation,
    HttpProbe,
    Inventory,
    MountSpec,
    Node,
    PrometheusSettings,
    ServiceSpec,
    SSHSettings,
    StorageSpec,
    Threshold,
)

SUPPORTED_VERSION = 1
NODE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_HOST_RE = re.compile(r"^[A-Za-z0-9_.-]+$")
_JUMP_RE = re.compile(r"^(?:[^@\s:]+@)?(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+)(?::(?P<port>[0-9]{1,5}))?$")
_TOP_KEYS = ("version", "name", "defaults", "groups", "nodes", "prometheus")
# What `defaults` (every node) and `groups.NAME` (that group's nodes) may set.
_DEFAULTABLE = (
    "ssh",
    "gpus",
    "refresh",
    "thresholds",
    "docker",
    "mounts",
    "services",
    "power_budget_w",
    "sshd",
    "storage",
    "ai_stack",
    "scratch",
)
_TAG = "tag:yaml.org,2002:"
_INVALID: Any = object()  # stands in for a value that already produced a problem
Check = Callable[[Any], str | None]


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


def _positive(value: float) -> str | None:
    return None if value > 0 else "must be greater than 0"


def _check_host(value: str) -> str | None:
    if "@" in value:
        return "must be a host name or address; put the user in ssh.user"
    if ":" not in value:
        return None if _HOST_RE.match(value) else "is not a valid host name or address"
    try:
        ipaddress.ip_address(value.strip("[]"))  # IPv6 is the only host that may contain ':'
    except ValueError:
        return "must be a host name or address; put the port in ssh.port"
    return None


def _octal(value: str) -> str | None:
    return None if re.fullmatch(r"[0-7]{3,4}", value) else "must be octal, e.g. 775"


def _port(value: int) -> str | None:
    return None if 1 <= value <= 65535 else "must be between 1 and 65535"


def _absolute(value: str) -> str | None:
    return None if value.startswith("/") else "must be an absolute path"


def _check_address(value: str) -> str | None:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return "must be an IP address such as 127.0.0.1, 0.0.0.0 or ::1"
    return None


def _check_jump(value: str) -> str | None:
    # Node names are valid host names, so this covers both forms; loops between nodes are checked later.
    match = _JUMP_RE.match(value)
    if match and 1 <= int(match["port"] or 22) <= 65535:
        return None
    return f"expected an inventory node name or [user@]host[:port], got '{value}'"


# Checks on single converted values, so they report the line of the offending key.
_CHECKS: dict[tuple[type, str], Check] = {
    (Node, "host"): _check_host,
    (Node, "refresh"): _positive,
    (SSHSettings, "port"): lambda v: None if 1 <= v <= 65535 else "must be between 1 and 65535",
    (SSHSettings, "jump"): _check_jump,
    (SSHSettings, "connect_timeout"): _positive,
    (SSHSettings, "command_timeout"): _positive,
    (SSHSettings, "keepalive_interval"): lambda v: None if v >= 0 else "must be 0 (off) or more",
    (GpuExpectation, "count"): lambda v: None if v >= 0 else "must be 0 or more",
    (MountSpec, "path"): lambda v: None if v.startswith("/") else "must be an absolute path",
    (MountSpec, "timeout"): _positive,
    (ServiceSpec, "port"): lambda v: None if 1 <= v <= 65535 else "must be between 1 and 65535",
    (ServiceSpec, "bind"): lambda v: _check_address(v),
    (HttpProbe, "path"): lambda v: None if v.startswith("/") else "must start with /",
    (HttpProbe, "expect"): lambda v: None if 100 <= v <= 599 else "must be an HTTP status (100-599)",
    (HttpProbe, "timeout"): _positive,
    (PrometheusSettings, "url"): lambda v: (
        None if v.startswith(("http://", "https://")) else "must start with http:// or https://"
    ),
    (PrometheusSettings, "timeout"): _positive,
    (Node, "power_budget_w"): _positive,
    (StorageSpec, "path"): lambda v: None if v.startswith("/") else "must be an absolute path",
    (StorageSpec, "owner"): lambda v: (
        None if re.fullmatch(r"[0-9]+:[0-9]+", v) else "must be numeric uid:gid, e.g. 1024:1024"
    ),
    (StorageSpec, "mode"): _octal,
    **{(AiStackSettings, f"{name}_port"): _port for name in ("comfy", "ollama", "openwebui")},
    **{(AiStackSettings, name): _absolute for name in ("nvme_root", "ssd_root", "project_dir")},
    (AiStackSettings, "comfy_mode"): lambda v: (
        None if re.fullmatch(r"[0-7]{3,4}", v) else "must be octal, e.g. 775"
    ),
    (AiStackSettings, "comfy_uid"): lambda v: None if v >= 0 else "must be 0 or more",
    (AiStackSettings, "comfy_gid"): lambda v: None if v >= 0 else "must be 0 or more",
    (AiStackSettings, "first_run_timeout"): _positive,
    (AiStackSettings, "poll_interval"): _positive,
}


@dataclass
class _Partial:
    """The keys one YAML mapping set for dataclass `tp`: converted, not yet merged or defaulted."""

    tp: type
    line: int | None
    key: str
    values: dict[str, Any] = field(default_factory=dict)
    origins: dict[str, tuple[int | None, str]] = field(default_factory=dict)  # field -> (line, key)


@functools.cache
def _hints(tp: type) -> dict[str, Any]:
    return get_type_hints(tp)


def _join(key: str, name: str) -> str:
    return f"{key}.{name}" if key else name


def _required(f: dataclasses.Field[Any]) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def _is_null(node: Any) -> bool:
    return isinstance(node, ScalarNode) and node.tag == _TAG + "null"


def _describe(node: Any) -> str:
    if not isinstance(node, ScalarNode):
        return "a mapping" if isinstance(node, MappingNode) else "a list"
    kinds = {"null": "null", "bool": "a boolean", "int": "an integer", "float": "a number"}
    return kinds.get(node.tag.removeprefix(_TAG), f"'{node.value}'")


def _merge(base: _Partial, over: _Partial) -> _Partial:
    """`over` wins key by key; nested mappings merge recursively and keep the overriding side's line."""
    out = _Partial(over.tp, over.line, over.key, dict(base.values), dict(base.origins))
    for name, value in over.values.items():
        old = base.values.get(name)
        out.values[name] = (
            _merge(old, value) if isinstance(old, _Partial) and isinstance(value, _Partial) else value
        )
        out.origins[name] = over.origins[name]
    return out


def _build(part: _Partial, base: Any) -> Any:
    """part.tp built over `base` (an instance, or None for the field defaults); _INVALID if a value is."""
    kwargs: dict[str, Any] = {}
    fields = {f.name: f for f in dataclasses.fields(part.tp)}
    for name, value in part.values.items():
        if isinstance(value, _Partial):
            sub = getattr(base, name) if base is not None else None
            if sub is None and callable(factory := fields[name].default_factory):
                sub = factory()
            value = _build(value, sub)
        elif isinstance(value, tuple) and any(isinstance(item, _Partial) for item in value):
            value = tuple(_build(item, None) if isinstance(item, _Partial) else item for item in value)
            value = _INVALID if _INVALID in value else value
        if value is _INVALID:
            return _INVALID
        kwargs[name] = value
    return dataclasses.replace(base, **kwargs) if base is not None else part.tp(**kwargs)


class _Converter:
    def __init__(self, path: str) -> None:
        self.path = path
        self.problems: list[InventoryProblem] = []
        self._scalars = yaml.constructor.SafeConstructor()

    def problem(self, line: int | None, key: str, message: str) -> None:
        self.problems.append(InventoryProblem(self.path, line, key, message))

    def pairs(
        self, node: MappingNode, key: str, seen: frozenset[int] = frozenset()
    ) -> list[tuple[str, int, Any]]:
        """(name, line, value node) per key, `<<` merge keys applied; duplicate keys are reported."""
        own: dict[str, tuple[int, Any]] = {}
        merged: dict[str, tuple[int, Any]] = {}
        for knode, vnode in node.value:
            line = knode.start_mark.line + 1
            if knode.tag == _TAG + "merge":
                for src in vnode.value if isinstance(vnode, SequenceNode) else [vnode]:
                    if not isinstance(src, MappingNode) or id(src) in seen:
                        self.problem(line, _join(key, "<<"), "expected a mapping or a list of mappings")
                        continue
                    for name, sline, value in self.pairs(src, key, seen | {id(node)}):
                        merged.setdefault(name, (sline, value))  # earlier sources win, as in YAML
            elif not isinstance(knode, ScalarNode) or _is_null(knode):
                self.problem(line, key, "keys must be strings")
            elif knode.value in own:
                first = own[knode.value][0]
                self.problem(line, _join(key, knode.value), f"duplicate key (first defined on line {first})")
            else:
                own[knode.value] = (line, vnode)
        return [(name, line, value) for name, (line, value) in (merged | own).items()]

    def mapping(
        self, node: Any, tp: type, key: str, line: int | None, allowed: Collection[str] | None = None
    ) -> _Partial | None:
        if not isinstance(node, MappingNode):
            self.problem(line, key, f"expected a mapping, got {_describe(node)}")
            return None
        hints = _hints(tp)
        part = _Partial(tp, line, key)
        for name, kline, vnode in self.pairs(node, key):
            sub = _join(key, name)
            if name not in hints:
                self.problem(kline, sub, "unknown key")
            elif allowed is not None and name not in allowed:
                self.problem(kline, sub, "not allowed here")
            else:
                part.values[name] = self.value(vnode, hints[name], sub, kline, _CHECKS.get((tp, name)))
                part.origins[name] = (kline, sub)
        return part

    def value(self, node: Any, hint: Any, key: str, line: int, check: Check | None = None) -> Any:
        """`node` converted to `hint`, or _INVALID after reporting why it does not fit."""
        origin, args = get_origin(hint), get_args(hint)
        if origin in (Union, types.UnionType):
            if _is_null(node) and type(None) in args:
                return None
            (hint,) = (a for a in args if a is not type(None))  # only `X | None` unions are supported
            origin, args = get_origin(hint), get_args(hint)
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            return self.mapping(node, hint, key, line) or _INVALID
        if origin is tuple:
            if not isinstance(node, SequenceNode):
                self.problem(line, key, f"expected a list, got {_describe(node)}")
                return _INVALID
            lines = [n.start_mark.line + 1 for n in node.value]
            items = [self.value(n, args[0], f"{key}[{i}]", lines[i], check) for i, n in enumerate(node.value)]
            items = [self.complete(item, f"{key}[{i}]", lines[i]) for i, item in enumerate(items)]
            return _INVALID if _INVALID in items else tuple(items)
        expected, result = self.scalar(node, hint, origin, args)
        message = f"expected {expected}, got {_describe(node)}" if expected else check and check(result)
        if message:
            self.problem(line, key, message)
            return _INVALID
        return result

    def complete(self, value: Any, key: str, line: int | None) -> Any:
        """A list item or top-level section has no defaults under it: its required keys must be set."""
        if not isinstance(value, _Partial):
            return value
        fields = dataclasses.fields(value.tp)
        missing = [f.name for f in fields if _required(f) and f.name not in value.values]
        for name in missing:
            self.problem(line, _join(key, name), "missing required key")
        return _INVALID if missing else value

    def scalar(self, node: Any, hint: Any, origin: Any, args: tuple[Any, ...]) -> tuple[str, Any]:
        """("", converted value), or (what was expected, None) on a mismatch."""
        tag = node.tag.removeprefix(_TAG) if isinstance(node, ScalarNode) else ""
        if origin is Literal:
            ok = tag == "str" and node.value in args
            return ("", node.value) if ok else ("one of " + ", ".join(map(str, args)), None)
        if hint is str:
            # Numbers are taken as written (`model: 4090`, `user: 0755`); null and booleans are mistakes.
            ok = tag not in ("", "null", "bool") and str(node.value).strip() != ""
            return ("", str(node.value)) if ok else ("a non-empty string", None)
        wanted = {bool: ("bool",), int: ("int",), float: ("int", "float")}[hint]
        if tag not in wanted:
            return ({bool: "true or false", int: "an integer", float: "a number"}[hint], None)
        result = self._scalars.construct_object(node)
        if hint is float:
            result = float(result)
            return ("", result) if math.isfinite(result) else ("a finite number", None)
        return ("", result)


def _read(conv: _Converter, path: str) -> Any:
    """The composed YAML root node (None for an empty file); problems are reported on `conv`."""
    try:
        return yaml.compose(Path(path).read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except FileNotFoundError:
        conv.problem(None, "", "file not found")
    except UnicodeDecodeError:
        conv.problem(None, "", "file is not valid UTF-8")
    except OSError as exc:
        conv.problem(None, "", f"cannot read file: {exc.strerror or exc}")
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        detail = ", ".join(s for s in (exc.context, exc.problem) if s)  # PyYAML's own order
        conv.problem(mark.line + 1 if mark else None, "", f"invalid YAML: {detail}")
    except yaml.YAMLError as exc:
        conv.problem(None, "", f"invalid YAML: {exc}")
    return None


def load_inventory(path: str | os.PathLike[str]) -> Inventory:
    """Read, validate and merge an inventory file; raise InventoryError listing every problem."""
    shown = os.fspath(path)
    conv = _Converter(shown)
    root = _read(conv, shown)
    inventory = None if conv.problems else _convert(conv, root, shown)
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
    for name, (line, _) in top.items():
        if name not in _TOP_KEYS:
            conv.problem(line, name, "unknown key")
    version = top.get("version")
    if version is None:
        conv.problem(None, "version", f"missing required key (use version: {SUPPORTED_VERSION})")
    elif version[1].tag != _TAG + "int":
        got = _describe(version[1])
        conv.problem(version[0], "version", f"expected the integer {SUPPORTED_VERSION}, got {got}")
    elif version[1].value != str(SUPPORTED_VERSION):
        message = f"unsupported version {version[1].value} (this release reads version {SUPPORTED_VERSION})"
        conv.problem(version[0], "version", message)
    name = conv.value(top["name"][1], str, "name", top["name"][0]) if "name" in top else Path(path).stem
    defaults = _Partial(Node, None, "defaults")
    if "defaults" in top and not _is_null(top["defaults"][1]):  # an all-commented-out `defaults:` is fine
        line, vnode = top["defaults"]
        defaults = conv.mapping(vnode, Node, "defaults", line, _DEFAULTABLE) or defaults
    groups = _convert_groups(conv, top.get("groups"))
    nodes = _convert_nodes(conv, top.get("nodes"), defaults, groups)
    prometheus = None
    if "prometheus" in top:
        line, vnode = top["prometheus"]
        hint = PrometheusSettings | None
        partial = conv.complete(conv.value(vnode, hint, "prometheus", line), "prometheus", line)
        prometheus = _build(partial, None) if isinstance(partial, _Partial) else partial
        via = prometheus.via if isinstance(prometheus, PrometheusSettings) else None
        names = (
            [k.value for k, _ in top["nodes"][1].value]
            if "nodes" in top and isinstance(top["nodes"][1], MappingNode)
            else []
        )
        if via is not None and via not in names:
            conv.problem(line, "prometheus.via", f"'{via}' is not a node of this inventory")
    if not nodes or prometheus is _INVALID:
        return None
    return Inventory(name=name, path=path, nodes=nodes, prometheus=prometheus)


def _convert_groups(conv: _Converter, entry: tuple[int, Any] | None) -> dict[str, _Partial]:
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
        part = conv.mapping(vnode, Node, f"groups.{name}", line, _DEFAULTABLE)
        if part is not None:
            groups[name] = part
    return groups


def _convert_nodes(
    conv: _Converter, entry: tuple[int, Any] | None, defaults: _Partial, groups: dict[str, _Partial]
) -> tuple[Node, ...]:
    if entry is None:
        conv.problem(None, "nodes", "missing required key (a mapping of node name to node)")
        return ()
    if not isinstance(entry[1], MappingNode) or not entry[1].value:
        got = "an empty mapping" if isinstance(entry[1], MappingNode) else _describe(entry[1])
        conv.problem(entry[0], "nodes", f"expected a mapping of node name to node, got {got}")
        return ()
    built: dict[str, tuple[Node, _Partial]] = {}
    body_keys = [name for name in _hints(Node) if name != "name"]  # the name is the node's key
    for name, line, vnode in conv.pairs(entry[1], "nodes"):
        key = f"nodes.{name}"
        if not NODE_NAME_RE.match(name):
            conv.problem(line, key, "node names must start with a letter or digit and use only A-Za-z0-9_.-")
        part = conv.mapping(vnode, Node, key, line, body_keys)
        if part is None:
            continue
        merged = defaults
        member_of = part.values.get("groups", defaults.values.get("groups", ()))
        for group in member_of if isinstance(member_of, tuple) else ():
            if group in groups:  # defaults, then each group in the node's order, then the node itself
                merged = _merge(merged, groups[group])
        merged = _merge(merged, part)
        transport = merged.values.get("transport", "ssh")
        if "host" not in merged.values:
            if transport == "ssh":
                conv.problem(line, f"{key}.host", "missing required key (needed for transport ssh)")
                continue
            merged.values["host"] = "localhost" if transport == "local" else _INVALID
        merged.values["name"] = name
        node = _build(merged, None)
        if node is not _INVALID:
            built[name] = (node, merged)
    _check_nodes(conv, built)
    return tuple(node for node, _ in built.values())


def _check_nodes(conv: _Converter, built: dict[str, tuple[Node, _Partial]]) -> None:
    """Checks that need the merged node: warn <= crit, and jump chains that loop back."""
    for name, (node, merged) in built.items():
        thresholds = merged.values.get("thresholds")
        for f in dataclasses.fields(node.thresholds):
            limit = getattr(node.thresholds, f.name)
            bad = isinstance(limit, Threshold) and limit.warn > limit.crit
            if bad and isinstance(thresholds, _Partial) and f.name in thresholds.origins:
                line, key = thresholds.origins[f.name]  # the mapping that set them, node or defaults
                conv.problem(line, key, f"warn ({limit.warn:g}) must not be above crit ({limit.crit:g})")
        for section, attr in (("services", "name"), ("mounts", "path")):
            seen: set[str] = set()
            items = merged.values.get(section) or ()
            for index, item in enumerate(getattr(node, section)):
                value = getattr(item, attr)
                if value in seen:
                    line = (
                        items[index].line
                        if index < len(items) and isinstance(items[index], _Partial)
                        else None
                    )
                    conv.problem(
                        line, f"nodes.{name}.{section}[{index}].{attr}", f"duplicate {attr} '{value}'"
                    )
                seen.add(value)
        chain = [name]
        while (hop := built[chain[-1]][0].ssh.jump) in built and hop not in chain[1:]:
            chain.append(hop)
            if hop == name:
                ssh = merged.values.get("ssh")
                line, where = ssh.origins["jump"] if isinstance(ssh, _Partial) else (None, "")
                inherited = "" if where.startswith(f"nodes.{name}.") else f" (inherited from {where})"
                message = f"jump chain loops: {' -> '.join(chain)}{inherited}"
                conv.problem(line, f"nodes.{name}.ssh.jump", message)
                break
