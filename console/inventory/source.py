"""Read an inventory file and compose its YAML into nodes, with every resource bounded.

An inventory is operator input, but it can come from anywhere (a shared repo, a path someone else gave):
a FIFO must not hang the console, `/dev/zero` must not fill its memory, a merge-key or alias bomb must not
expand for ever, and deep nesting must not blow Python's stack. So:

- the file is opened non-blocking and checked with fstat on the opened descriptor (a regular file only),
  and at most MAX_BYTES + 1 bytes are ever read;
- the YAML is parsed into events by libyaml where available (a state machine, no recursion, ~40x faster than
  the pure-Python scanner) and composed here, iteratively, into PyYAML's own node classes, so the converter
  keeps every key's line;
- nesting deeper than MAX_DEPTH, or a document that expands (aliases and merge keys followed) to more than
  MAX_EXPANDED nodes, is refused with the line where it happens. An alias may only name a node that is already
  complete, so the node graph has no cycles.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.events import (
    AliasEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

MAX_BYTES = 4 * 1024 * 1024  # a 14,000-node inventory written out in full is 4 MiB
MAX_DEPTH = 64  # the deepest key of the format is 7 levels down
MAX_EXPANDED = 1_000_000  # nodes once every alias and merge key is followed

_Parser: Any = yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader
_KINDS = {
    stat.S_IFDIR: "Is a directory",
    stat.S_IFIFO: "not a regular file (a named pipe)",
    stat.S_IFCHR: "not a regular file (a character device)",
    stat.S_IFBLK: "not a regular file (a block device)",
    stat.S_IFSOCK: "not a regular file (a socket)",
}


@dataclass(frozen=True, slots=True)
class SourceProblem:
    line: int | None  # 1-based
    message: str


class _Refused(Exception):
    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(message)
        self.line, self.message = line, message


def read_text(path: str) -> str:
    """The file's text; _Refused unless it is a readable regular file of at most MAX_BYTES of UTF-8."""
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise _Refused(None, "file not found") from None
    except OSError as exc:
        raise _Refused(None, f"cannot read file: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        kind = stat.S_IFMT(info.st_mode)
        if kind != stat.S_IFREG:
            raise _Refused(None, "cannot read file: " + _KINDS.get(kind, "not a regular file"))
        if info.st_size > MAX_BYTES:
            raise _Refused(None, f"file is too large: {info.st_size} bytes (at most {MAX_BYTES} bytes)")
        chunks: list[bytes] = []
        size = 0
        while size <= MAX_BYTES:  # st_size can lie (/proc) or change: the read itself is bounded too
            chunk = os.read(fd, MAX_BYTES + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        if exc.errno == errno.EISDIR:
            raise _Refused(None, "cannot read file: Is a directory") from None
        raise _Refused(None, f"cannot read file: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if size > MAX_BYTES:
        raise _Refused(None, f"file is too large: more than {MAX_BYTES} bytes")
    try:
        return b"".join(chunks).decode("utf-8")
    except UnicodeDecodeError:
        raise _Refused(None, "file is not valid UTF-8") from None


def _line(event: Any) -> int:
    return int(event.start_mark.line) + 1


class _Composer:
    """PyYAML's Composer, iterative and bounded; tags resolved exactly as SafeLoader resolves them."""

    def __init__(self) -> None:
        self.resolve: Any = yaml.resolver.Resolver().resolve
        self.anchors: dict[str, tuple[Node, int]] = {}
        self.expanded: dict[int, tuple[int, int]] = {}  # id(node) -> (size, depth) with aliases followed
        self.stack: list[Node] = []
        self.pending_key: list[bool] = []  # per open mapping: a key was read and waits for its value
        self.open_events: dict[int, Any] = {}  # id(collection node) -> its start event, for its anchor
        self.root: Node | None = None

    def compose(self, text: str) -> Node | None:
        parser = _Parser(text)
        try:
            documents = 0
            while not parser.check_event(StreamEndEvent):
                event = parser.get_event()
                if isinstance(event, DocumentStartEvent):
                    documents += 1
                    if documents > 1:
                        raise _Refused(_line(event), "expected a single document, found another one")
                self.feed(event)
        finally:
            parser.dispose()
        return self.root

    def feed(self, event: Any) -> None:
        kind = type(event)
        if kind is ScalarEvent:  # the common case first
            tag = event.tag
            if tag is None or tag == "!":
                tag = self.resolve(ScalarNode, event.value, event.implicit)
            node: Node = ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
            if event.anchor is not None:
                self.anchor(event, node)
            self.attach(node)
        elif kind is AliasEvent:
            if event.anchor not in self.anchors:
                message = (
                    f"undefined alias *{event.anchor} (an alias must come after its anchor's whole node)"
                )
                raise _Refused(_line(event), message)
            self.attach(self.anchors[event.anchor][0])
        elif kind is MappingStartEvent or kind is SequenceStartEvent:
            if len(self.stack) >= MAX_DEPTH:
                raise _Refused(_line(event), f"nesting is deeper than {MAX_DEPTH} levels")
            cls: Any = MappingNode if kind is MappingStartEvent else SequenceNode
            tag = event.tag
            if tag is None or tag == "!":
                tag = self.resolve(cls, None, event.implicit)
            node = cls(tag, [], event.start_mark, None, flow_style=event.flow_style)
            self.attach(node)
            self.stack.append(node)
            self.pending_key.append(False)
            self.open_events[id(node)] = event  # anchored once complete: no alias can point into itself
        elif kind is MappingEndEvent or kind is SequenceEndEvent:
            node = self.stack.pop()
            self.pending_key.pop()
            node.end_mark = event.end_mark
            self.close(node)
            self.anchor(self.open_events.pop(id(node)), node)

    def anchor(self, event: Any, node: Node) -> None:
        if event.anchor is None:
            return
        if event.anchor in self.anchors:
            first = self.anchors[event.anchor][1]
            raise _Refused(_line(event), f"duplicate anchor &{event.anchor} (first defined on line {first})")
        self.anchors[event.anchor] = (node, _line(event))

    def attach(self, node: Node) -> None:
        if not self.stack:
            self.root = node
            return
        parent = self.stack[-1]
        if isinstance(parent, SequenceNode):
            parent.value.append(node)
        elif self.pending_key[-1]:
            key = parent.value.pop()
            parent.value.append((key, node))
            self.pending_key[-1] = False
        else:
            parent.value.append(node)  # the key, paired with its value when that arrives
            self.pending_key[-1] = True

    def close(self, node: Node) -> None:
        """Size and depth of `node` with aliases followed: its children are complete, so this is one step."""
        expanded, scalar = self.expanded, (1, 1)  # scalars are not stored: most nodes are scalars
        size, depth = 1, 1
        for item in node.value:
            for child in item if isinstance(node, MappingNode) else (item,):
                child_size, child_depth = expanded.get(id(child), scalar)
                size += child_size
                if child_depth >= depth:
                    depth = child_depth + 1
        line = int(node.start_mark.line) + 1
        if size > MAX_EXPANDED:
            message = f"aliases and merge keys expand this to more than {MAX_EXPANDED} nodes"
            raise _Refused(line, message)
        if depth > MAX_DEPTH:
            raise _Refused(line, f"aliases and merge keys nest this deeper than {MAX_DEPTH} levels")
        self.expanded[id(node)] = (size, depth)


def read_document(path: str) -> tuple[Node | None, SourceProblem | None]:
    """The composed root node (None for an empty file), or the one problem that stopped reading."""
    text = ""
    try:
        text = read_text(path)
        return _Composer().compose(text), None
    except _Refused as refused:
        return None, SourceProblem(refused.line, refused.message)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        detail = ", ".join(s for s in (exc.context, exc.problem) if s)  # PyYAML's own order
        return None, SourceProblem(
            mark.line + 1 if mark else None, f"invalid YAML: {detail}{_hint(text, mark)}"
        )
    except yaml.reader.ReaderError:
        # Its position counts bytes or characters depending on the parser: find the character ourselves.
        found = yaml.reader.Reader.NON_PRINTABLE.search(text)
        if found is None:
            return None, SourceProblem(None, "invalid YAML: a character YAML does not allow")
        line, code = text.count("\n", 0, found.start()) + 1, ord(found.group())
        return None, SourceProblem(line, f"invalid YAML: character #x{code:04x} is not allowed in YAML")
    except yaml.YAMLError as exc:
        return None, SourceProblem(None, f"invalid YAML: {exc}")


def _hint(text: str, mark: Any) -> str:
    """libyaml does not name the character it stopped at; the commonest one deserves a word."""
    if mark is None:
        return ""
    lines = text.split("\n")
    line = lines[mark.line] if 0 <= mark.line < len(lines) else ""
    return " (a tab: YAML indents with spaces)" if line[mark.column : mark.column + 1] == "\t" else ""
