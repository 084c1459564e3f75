"""Partial models: what one YAML mapping set, before defaults, groups and the node merge, and their building.

A partial keeps each key's line, so checks that need the merged node (thresholds, duplicates, jump loops) can
still name the line that set a value. A value that already produced a problem is INVALID: it never builds,
but the checks across values still look at everything else.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

INVALID: Any = object()  # stands in for a value that already produced a problem


def join(key: str, name: str) -> str:
    return f"{key}.{name}" if key else name


@dataclass(eq=False)
class Partial:
    """The keys one YAML mapping set for dataclass `tp`: converted, not yet merged or defaulted."""

    tp: type
    line: int | None
    key: str
    values: dict[str, Any] = field(default_factory=dict)
    origins: dict[str, tuple[int | None, str]] = field(default_factory=dict)  # field -> (line, key)
    broken: bool = False  # a required key is missing (already reported): it never builds


def merge(base: Partial, over: Partial) -> Partial:
    """`over` wins key by key; nested mappings merge recursively and keep the overriding side's line."""
    out = Partial(over.tp, over.line, over.key, dict(base.values), dict(base.origins), over.broken)
    for name, value in over.values.items():
        old = base.values.get(name)
        out.values[name] = (
            merge(old, value) if isinstance(old, Partial) and isinstance(value, Partial) else value
        )
        out.origins[name] = over.origins[name]
    return out


class Builder:
    """Builds merged partials into models. A list or list item that many nodes share (it came from `defaults`
    or a group) is built once and shared: the models are frozen, and building it per node would make a
    long `defaults.mounts` times many nodes quadratic in the file's size."""

    def __init__(self) -> None:
        self._cache: dict[int, tuple[Any, Any]] = {}  # id(source) -> (source, built): the source stays alive

    def build(self, part: Partial, base: Any) -> Any:
        """part.tp built over `base` (an instance, or None for the field defaults); INVALID if a value is."""
        if part.broken:
            return INVALID
        kwargs: dict[str, Any] = {}
        plugins: list[tuple[str, Any]] = []  # keys a plug-in section registered, not fields of the model
        fields = {f.name: f for f in dataclasses.fields(part.tp)}
        for name, value in part.values.items():
            if isinstance(value, Partial):
                sub = getattr(base, name) if base is not None and name in fields else None
                if sub is None and name in fields and callable(factory := fields[name].default_factory):
                    sub = factory()
                value = self.build(value, sub)
            elif isinstance(value, tuple):
                value = self.items(value)
            if value is INVALID:
                return INVALID
            if name in fields:
                kwargs[name] = value
            else:
                plugins.append((name, value))
        if plugins:
            kwargs["plugins"] = tuple(sorted(plugins, key=lambda pair: pair[0]))
        return dataclasses.replace(base, **kwargs) if base is not None else part.tp(**kwargs)

    def items(self, value: tuple[Any, ...]) -> Any:
        cached = self._cache.get(id(value))
        if cached is not None and cached[0] is value:
            return cached[1]
        built = tuple(self.build(item, None) if isinstance(item, Partial) else item for item in value)
        result = INVALID if any(item is INVALID for item in built) else built
        self._cache[id(value)] = (value, result)
        return result
