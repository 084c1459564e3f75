"""Rewrite one service's URL scheme in the inventory YAML text in place, keeping every other byte.

The inventory is where the console holds a service's URL (services[].http.scheme). The node's own entry wins,
then its groups', then defaults' (the same order the loader merges them in).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode


@dataclass(frozen=True, slots=True)
class SchemeLocation:
    key: str  # dotted, for people: nodes.gpu1.services[0].http.scheme
    value: str
    start: int  # character offsets of the scalar in the text (quotes included)
    end: int


def _get(node: Node | None, key: str) -> Node | None:
    if not isinstance(node, MappingNode):
        return None
    return next(
        (value for name, value in node.value if isinstance(name, ScalarNode) and name.value == key), None
    )


def _in_services(services: Node | None, service: str, where: str) -> SchemeLocation | None:
    if not isinstance(services, SequenceNode):
        return None
    for index, entry in enumerate(services.value):
        name = _get(entry, "name")
        if isinstance(name, ScalarNode) and name.value == service:
            scheme = _get(_get(entry, "http"), "scheme")
            if isinstance(scheme, ScalarNode):
                key = f"{where}.services[{index}].http.scheme"
                return SchemeLocation(key, scheme.value, scheme.start_mark.index, scheme.end_mark.index)
    return None


def find_scheme(text: str, node: str, service: str, groups: Sequence[str] = ()) -> SchemeLocation | None:
    """Where the inventory sets `service`'s scheme for `node`; None when it is not set anywhere."""
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    places = [(_get(_get(_get(root, "nodes"), node), "services"), f"nodes.{node}")]
    places += [(_get(_get(_get(root, "groups"), group), "services"), f"groups.{group}") for group in groups]
    places.append((_get(_get(root, "defaults"), "services"), "defaults"))
    for services, where in places:
        found = _in_services(services, service, where)
        if found is not None:
            return found
    return None


def rewrite_scheme(text: str, location: SchemeLocation, scheme: str) -> str:
    """The text with the scalar at `location` replaced by `scheme` (its quotes kept)."""
    old = text[location.start : location.end]
    quote = old[0] if old[:1] in ("'", '"') else ""
    return text[: location.start] + f"{quote}{scheme}{quote}" + text[location.end :]
