"""A read-only handle on a node, for `--check`: only registered read commands run, Docker only answers GETs.

`ReadOnlyTransport(inner)` implements the Transport protocol over any other transport:
- `run()` (and `open_stream()`) runs a command only when its text matches a registered read-only command:
  one a section declares (`console.sections`: registering a section registers its `read_only_commands`
  here, its streams' and probes' included; nothing else registers). A rule is an exact command, an `Argv`
  (a plain command whose words are literals or `Word`s), or a `Text` (a script with `Word` holes). A `Word`
  is one shell word as `shlex.quote` writes it, so whatever value a collector puts there (a path, a host) is
  data to the shell, never code. Anything else raises ReadOnlyViolation and nothing reaches the node.
  Registration only comes down to this module, which imports nothing above the transport: with nothing
  registered, all is refused.
- `open_tcp` / `forward_tcp` pass through: probes are reads.
- `forward_unix_socket` (the Docker socket) returns a local filtering proxy instead of the forwarded socket
  (console/transport/docker_filter.py): GET and HEAD pass, anything else is answered `403`, so even a
  buggy collector cannot restart a container. `open_unix_socket` goes through the same proxy.
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime

from console.transport.base import (
    ByteReader,
    ByteWriter,
    CommandResult,
    LineStream,
    OutputTooLarge,
    StreamingTransport,
    Transport,
    TransportError,
)
from console.transport.docker_filter import MAX_RELAY_BODY, DockerApiFilter
from console.transport.tempdirs import private_dir

__all__ = [
    "MAX_RELAY_BODY",
    "Argv",
    "ReadOnlyTransport",
    "ReadOnlyViolation",
    "Text",
    "Word",
    "is_read_only",
    "register_read_only",
]


class ReadOnlyViolation(RuntimeError):
    """Something asked a read-only handle to run a command nobody registered as a read: a bug, never run."""


# One word as shlex.quote writes it: safe characters bare, anything else single-quoted ('"'"' for a quote).
_BARE = r"[A-Za-z0-9_@%+=:,./-]+"
_QUOTED = r"'[^']*'(?:\"'\"'[^']*')*"
_SHELL_WORD = f"(?:{_BARE}|{_QUOTED})"


def _unquote(word: str) -> str:
    if word.startswith("'"):
        return word[1:-1].replace("'\"'\"'", "'")
    return word


@dataclass(frozen=True, slots=True)
class Word:
    """A hole for one shell word (`shlex.quote`d); its value must fullmatch `pattern`.

    `many`: zero or more words, as the last part of an Argv only.
    """

    pattern: str
    many: bool = False

    def accepts(self, value: str) -> bool:
        return re.fullmatch(self.pattern, value, re.DOTALL) is not None


@dataclass(frozen=True, slots=True)
class Text:
    """A command or script: literal text with Word holes (each followed by a non-word character)."""

    parts: tuple[str | Word, ...]
    _regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __init__(self, *parts: str | Word) -> None:
        object.__setattr__(self, "parts", parts)
        pattern = "".join(re.escape(part) if isinstance(part, str) else f"({_SHELL_WORD})" for part in parts)
        object.__setattr__(self, "_regex", re.compile(pattern, re.DOTALL))

    def matches(self, text: str) -> bool:
        match = self._regex.fullmatch(text)
        if match is None:
            return False
        words = [part for part in self.parts if isinstance(part, Word)]
        return all(word.accepts(_unquote(value)) for word, value in zip(words, match.groups(), strict=True))


@dataclass(frozen=True, slots=True)
class Argv:
    """A plain command (no operators, every word as `shlex.quote` writes it) whose words match `parts`.

    A Text part matches a word that is itself a script (`sh -c SCRIPT`).
    """

    parts: tuple[str | Word | Text, ...]

    def __init__(self, *parts: str | Word | Text) -> None:
        object.__setattr__(self, "parts", parts)

    def matches(self, command: str) -> bool:
        try:
            argv = shlex.split(command)
        except ValueError:
            return False
        if " ".join(shlex.quote(word) for word in argv) != command:
            return False  # operators, expansions, odd quoting: not a plain command
        parts = list(self.parts)
        if parts and isinstance(parts[-1], Word) and parts[-1].many:
            rest = parts.pop()
            assert isinstance(rest, Word)
            if len(argv) < len(parts) or not all(rest.accepts(word) for word in argv[len(parts) :]):
                return False
            argv = argv[: len(parts)]
        if len(argv) != len(parts):
            return False
        for part, word in zip(parts, argv, strict=True):
            if isinstance(part, str):
                if part != word:
                    return False
            elif not (part.accepts(word) if isinstance(part, Word) else part.matches(word)):
                return False
        return True


_EXACT: set[str] = set()
_PATTERNS: list[Argv | Text] = []


def register_read_only(rule: str | Argv | Text) -> None:
    """Declare a command a collector runs as a pure read (a str: that exact text)."""
    if isinstance(rule, str):
        _EXACT.add(rule)
    elif rule not in _PATTERNS:
        _PATTERNS.append(rule)


def is_read_only(command: str) -> bool:
    return command in _EXACT or any(rule.matches(command) for rule in _PATTERNS)


class ReadOnlyTransport:
    """`inner`, restricted to reads: see the module's docstring."""

    def __init__(self, inner: Transport) -> None:
        self._inner = inner
        self._proxies: dict[str, DockerApiFilter] = {}
        self._dir: str | None = None

    @property
    def inner(self) -> Transport:
        return self._inner

    @property
    def node_name(self) -> str:
        return self._inner.node_name

    @property
    def is_local(self) -> bool:
        return self._inner.is_local

    @property
    def connected(self) -> bool:
        return bool(getattr(self._inner, "connected", False))

    @property
    def connect_seconds(self) -> float | None:
        return self._inner.connect_seconds

    @property
    def connected_at(self) -> datetime | None:
        return self._inner.connected_at

    async def connect(self, *, force: bool = False) -> None:
        await self._inner.connect(force=force)

    async def run(self, command: str, *, timeout: float | None = None) -> CommandResult:
        if not is_read_only(command):
            first = " ".join(command.split())[:120]
            raise ReadOnlyViolation(f"{self.node_name}: read-only mode refused to run {first!r}")
        return await self._inner.run(command, timeout=timeout)

    async def open_tcp(self, host: str, port: int) -> tuple[ByteReader, ByteWriter]:
        return await self._inner.open_tcp(host, port)

    async def forward_tcp(self, host: str, port: int) -> int:
        return await self._inner.forward_tcp(host, port)

    async def forward_unix_socket(self, remote_path: str) -> str:
        proxy = self._proxies.get(remote_path)
        if proxy is None:
            if self._dir is None:
                self._dir = private_dir("ro")  # mode 0700; stale ones of killed runs go first
            local = os.path.join(self._dir, f"docker-{len(self._proxies)}.sock")
            proxy = DockerApiFilter(self._inner, remote_path, local)
            await proxy.start()
            self._proxies[remote_path] = proxy
        return proxy.path

    async def open_unix_socket(self, path: str) -> tuple[ByteReader, ByteWriter]:
        return await asyncio.open_unix_connection(await self.forward_unix_socket(path))

    async def open_stream(self, command: str, *, timeout: float | None = None) -> LineStream:
        """A long-lived read (a GPU stream) passes when its command is registered read-only."""
        if not is_read_only(command):
            raise ReadOnlyViolation(f"{self.node_name}: read-only mode refused to run {command[:120]!r}")
        if not isinstance(self._inner, StreamingTransport):
            raise TransportError(f"{self.node_name}: no streams over this transport")
        return await self._inner.open_stream(command, timeout=timeout)

    async def stream(self, command: str, *, timeout: float | None = None) -> AsyncIterator[str]:
        lines = await self.open_stream(command, timeout=timeout)
        try:
            while (line := await lines.readline()) is not None:
                yield line
        finally:
            await lines.close()
        if getattr(lines, "too_large", False):  # as SSHTransport.stream: a line past the cap is an error
            raise OutputTooLarge(f"{self.node_name}: {lines.error}")

    async def close(self) -> None:
        proxies, self._proxies = list(self._proxies.values()), {}
        for proxy in proxies:
            await proxy.close()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
        await self._inner.close()
