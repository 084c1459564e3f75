"""Inventory loader: what is wrong with the file as a whole (versions, top-level keys, YAML syntax, encoding,
a missing or unreadable path), each with its exact `file:line: key: message`."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.inventory import InventoryError, load_inventory
from tests.inventory_support import HEADER, lab_file, problems, write

lab = pytest.fixture(lab_file)


FILE_ERRORS = {
    "missing version": (
        "nodes:\n  a: {host: h}\n",
        "lab.yaml: version: missing required key (use version: 1)",
    ),
    "version 2": (
        "version: 2\nnodes:\n  a: {host: h}\n",
        "lab.yaml:1: version: unsupported version 2 (this release reads version 1)",
    ),
    "version string": (
        'nodes:\n  a: {host: h}\nversion: "1"\n',
        "lab.yaml:3: version: expected the integer 1, got '1'",
    ),
    "top level list": ("- version: 1\n", "lab.yaml:1: expected a mapping at the top level, got a list"),
    "empty file": ("# nothing here\n", "lab.yaml: expected a mapping at the top level, got an empty file"),
    "unknown top key": (HEADER + "  a: {host: h}\nservers: []\n", "lab.yaml:4: servers: unknown key"),
    "nodes missing": (
        "version: 1\nname: lab\n",
        "lab.yaml: nodes: missing required key (a mapping of node name to node)",
    ),
    "nodes empty": (
        "version: 1\nnodes: {}\n",
        "lab.yaml:2: nodes: expected a mapping of node name to node, got an empty mapping",
    ),
    "nodes null": (
        "version: 1\nnodes:\n",
        "lab.yaml:2: nodes: expected a mapping of node name to node, got null",
    ),
    "nodes as list": (
        "version: 1\nnodes:\n  - name: a\n    host: h\n",
        "lab.yaml:2: nodes: expected a mapping of node name to node, got a list",
    ),
    "node body not mapping": (
        HEADER + "  a: 10.0.0.1\n",
        "lab.yaml:3: nodes.a: expected a mapping, got '10.0.0.1'",
    ),
    "bad node name": (
        HEADER + "  -gpu: {host: h}\n",
        "lab.yaml:3: nodes.-gpu: node names must start with a letter or digit and use only A-Za-z0-9_.-",
    ),
    "missing host": (
        HEADER + "  gpu1:\n    groups: [gpu]\n",
        "lab.yaml:3: nodes.gpu1.host: missing required key (needed for transport ssh)",
    ),
    "name not a string": (
        "version: 1\nname: [a]\nnodes:\n  a: {host: h}\n",
        "lab.yaml:2: name: expected a non-empty string, got a list",
    ),
    "defaults not allowed key": (
        "version: 1\ndefaults:\n  host: 10.0.0.1\nnodes:\n  a: {host: h}\n",
        "lab.yaml:3: defaults.host: not allowed here",
    ),
    "defaults unknown key": (
        "version: 1\ndefaults:\n  sshh: {}\nnodes:\n  a: {host: h}\n",
        "lab.yaml:3: defaults.sshh: unknown key",
    ),
    "duplicate top-level key": (
        "version: 1\nnodes:\n  a: {host: h}\nversion: 1\n",
        "lab.yaml:4: version: duplicate key (first defined on line 1)",
    ),
    "duplicate node": (
        HEADER + "  a: {host: h1}\n  b: {host: h2}\n  a: {host: h3}\n",
        "lab.yaml:5: nodes.a: duplicate key (first defined on line 3)",
    ),
    "duplicate in flow mapping": (
        HEADER + "  a: {host: h, ssh: {port: 22, port: 23}}\n",
        "lab.yaml:3: nodes.a.ssh.port: duplicate key (first defined on line 3)",
    ),
    "null key": (HEADER + "  a: {host: h}\n  ~: {host: h}\n", "lab.yaml:4: nodes: keys must be strings"),
    "bad merge source": (
        HEADER + "  a:\n    <<: 5\n    host: h\n",
        "lab.yaml:4: nodes.a.<<: expected a mapping or a list of mappings",
    ),
}


@pytest.mark.parametrize(("text", "expected"), FILE_ERRORS.values(), ids=FILE_ERRORS.keys())
def test_file_errors(lab: Path, text: str, expected: str) -> None:
    assert problems(write(lab, text)) == [expected]


def test_yaml_syntax_error_uses_the_mark_line(lab: Path) -> None:
    found = problems(write(lab, "version: 1\nnodes:\n  a: {host: h\n  b: {host: h}\n"))
    assert len(found) == 1
    assert found[0].startswith("lab.yaml:4: invalid YAML: ")


def test_tab_indentation_is_a_syntax_error(lab: Path) -> None:
    (found,) = problems(write(lab, "version: 1\nnodes:\n  a:\n\thost: h\n"))
    assert found.startswith("lab.yaml:4: invalid YAML: ")
    assert "tab" in found


def test_missing_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert problems("nope/lab.yaml") == ["nope/lab.yaml: file not found"]


def test_unreadable_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dir.yaml").mkdir()
    assert problems("dir.yaml") == ["dir.yaml: cannot read file: Is a directory"]


def test_not_utf8(lab: Path) -> None:
    lab.write_bytes(b"version: 1\nname: \xff\xfe\n")
    assert problems("lab.yaml") == ["lab.yaml: file is not valid UTF-8"]


def test_path_is_shown_as_given(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "lab.yaml"
    path.parent.mkdir()
    path.write_text("version: 3\nnodes:\n  a: {host: h}\n", encoding="utf-8")
    with pytest.raises(InventoryError) as info:
        load_inventory(path)  # a Path, not a str: shown as its string form
    assert str(info.value) == f"{path}:1: version: unsupported version 3 (this release reads version 1)"
