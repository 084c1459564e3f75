"""A hostile inventory file: bounded reading, bounded expansion, and errors that are safe to print.

Cases that used to hang (a merge-key bomb, a FIFO, /dev/zero) run the loader in a child process with a
deadline, so a regression fails the test instead of hanging the suite.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from console.inventory import InventoryError, load_inventory
from console.inventory.source import MAX_BYTES, MAX_DEPTH, MAX_EXPANDED

HEADER = "version: 1\nnodes:\n"
JUMP_HINT = "expected an inventory node name or [user@]host[:port]"
CHILD = """
import json, sys
from console.inventory import InventoryError, load_inventory
try:
    load_inventory(sys.argv[1])
    print(json.dumps([]))
except InventoryError as err:
    print(json.dumps([str(p) for p in err.errors]))
"""


@pytest.fixture
def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path / "lab.yaml"


def problems(path: Path | str) -> list[str]:
    with pytest.raises(InventoryError) as info:
        load_inventory(path)
    return [str(p) for p in info.value.errors]


def write(path: Path, text: str) -> str:
    path.write_text(text)
    return path.name


def problems_in_child(path: str, cwd: Path) -> list[str]:
    """The loader's problems, from a child process that must finish within 60 s (it hung before)."""
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, path], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    found: list[str] = json.loads(done.stdout)
    return found


# --- reading ----------------------------------------------------------------------------------------------


def merge_bomb() -> str:
    """651 bytes: each level merges the one before it nine times, 9**8 mappings once expanded."""
    lines = ["version: 1", "x0: &x0 {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8, i: 9, j: 10}"]
    for level in range(1, 9):
        lines.append(f"x{level}: &x{level} {{<<: [" + ", ".join([f"*x{level - 1}"] * 9) + "]}")
    lines += ["nodes:", "  a:", "    <<: *x8", "    host: h"]
    return "\n".join(lines) + "\n"


def test_merge_key_bomb_is_refused_at_its_line(lab: Path) -> None:
    text = merge_bomb()
    assert len(text) < 700
    lab.write_text(text)
    # x0 is 21 nodes, xN about 21 * 9**N: x5 (line 7) is the first mapping past the limit, refused there.
    assert 21 * 9**4 < MAX_EXPANDED < 21 * 9**5
    assert problems_in_child("lab.yaml", lab.parent) == [
        f"lab.yaml:7: aliases and merge keys expand this to more than {MAX_EXPANDED} nodes"
    ]


def test_fifo_is_refused_without_waiting_for_a_writer(lab: Path) -> None:
    os.mkfifo(lab)
    assert problems_in_child("lab.yaml", lab.parent) == [
        "lab.yaml: cannot read file: not a regular file (a named pipe)"
    ]


def test_symlink_to_dev_zero_is_refused(lab: Path) -> None:
    lab.symlink_to("/dev/zero")
    assert problems_in_child("lab.yaml", lab.parent) == [
        "lab.yaml: cannot read file: not a regular file (a character device)"
    ]


def test_symlink_to_a_regular_file_is_followed(lab: Path) -> None:
    (lab.parent / "real.yaml").write_text("version: 1\nnodes:\n  a: {host: h}\n")
    lab.symlink_to("real.yaml")
    assert load_inventory("lab.yaml").nodes[0].host == "h"


def test_file_over_the_size_limit_is_refused_before_parsing(lab: Path) -> None:
    with lab.open("w") as out:
        out.write("version: 1\nnodes:\n  a: {host: h}\n")
        out.write("# padding\n" * (MAX_BYTES // 10 + 1))
    size = lab.stat().st_size
    assert problems("lab.yaml") == [f"lab.yaml: file is too large: {size} bytes (at most {MAX_BYTES} bytes)"]


def test_file_just_under_the_limit_is_read(lab: Path) -> None:
    text = "version: 1\nnodes:\n  a: {host: h}\n"
    lab.write_text(text + "#" * (MAX_BYTES - len(text) - 1) + "\n")
    assert lab.stat().st_size == MAX_BYTES
    assert load_inventory("lab.yaml").nodes[0].name == "a"


def test_deep_flow_nesting_is_refused_with_its_line(lab: Path) -> None:
    lab.write_text("version: 1\nnodes:\n  a: {host: h, groups: " + "[" * 3000 + "]" * 3000 + "}\n")
    assert problems("lab.yaml") == [f"lab.yaml:3: nesting is deeper than {MAX_DEPTH} levels"]


def test_a_long_chain_of_merges_is_refused_not_a_recursion_error(lab: Path) -> None:
    lines = ["version: 1", "m0: &m0 {refresh: 2}"]
    lines += [f"m{i}: &m{i} {{<<: *m{i - 1}}}" for i in range(1, 2000)]
    lines += ["nodes:", "  a: {<<: *m1999, host: h}"]
    lab.write_text("\n".join(lines) + "\n")
    # m62 holds MAX_DEPTH levels once its merges are followed; m63 is the first that nests deeper.
    assert problems("lab.yaml") == [
        f"lab.yaml:65: aliases and merge keys nest this deeper than {MAX_DEPTH} levels"
    ]


def test_an_alias_inside_its_own_anchor_is_refused(lab: Path) -> None:
    lab.write_text("version: 1\nnodes:\n  a: &a {host: h, x: *a}\n")
    (found,) = problems("lab.yaml")
    assert found.startswith("lab.yaml:3: undefined alias *a")


def test_merges_and_aliases_of_a_real_fleet_still_load(lab: Path) -> None:
    first = "  n0: &common {host: h, groups: [gpu], refresh: 3, mounts: [{path: /mnt/a}, {path: /mnt/b}]}\n"
    nodes = "".join(f"  n{i}: {{<<: *common, host: 10.0.{i // 250}.{i % 250}}}\n" for i in range(1, 2000))
    inventory = load_inventory(write(lab, HEADER + first + nodes))
    assert len(inventory.nodes) == 2000
    assert {n.refresh for n in inventory.nodes} == {3.0}


# --- values -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            '  "gpu1\\n": {host: h}\n',
            "lab.yaml:3: nodes.gpu1\\n: node names must start with a letter or digit"
            " and use only A-Za-z0-9_.-",
        ),
        (
            '  a: {host: "h\\n"}\n',
            "lab.yaml:3: nodes.a.host: expected a string without control characters or line breaks,"
            " got 'h\\n'",
        ),
        (
            "  a: {host: -oProxyCommand=id}\n",
            "lab.yaml:3: nodes.a.host: must not start with '-' (ssh would read it as an option)",
        ),
        (
            "  a: {host: h, ssh: {jump: '$(id)@gw'}}\n",
            f"lab.yaml:3: nodes.a.ssh.jump: {JUMP_HINT}, got '$(id)@gw'",
        ),
        (
            "  a: {host: h, ssh: {jump: 'a;b@gw'}}\n",
            f"lab.yaml:3: nodes.a.ssh.jump: {JUMP_HINT}, got 'a;b@gw'",
        ),
        (
            "  a: {host: h, ssh: {jump: -oProxyCommand}}\n",
            "lab.yaml:3: nodes.a.ssh.jump: expected an inventory node name or [user@]host[:port], "
            "got '-oProxyCommand'",
        ),
        (
            "  a: {host: h, ssh: {user: '-oProxyCommand=id'}}\n",
            "lab.yaml:3: nodes.a.ssh.user: must be a user name (letters, digits, '_', '.', '-', '@'; "
            "not starting with '-')",
        ),
        (
            "  a: {host: h, mounts: [{path: /mnt/../etc}]}\n",
            "lab.yaml:3: nodes.a.mounts[0].path: must not contain '..'"
            " (write the path the mount table shows)",
        ),
        (
            "  a: {host: h, docker: {containers: ['-x']}}\n",
            "lab.yaml:3: nodes.a.docker.containers[0]: is not a valid container name"
            " ([A-Za-z0-9][A-Za-z0-9_.-]*)",
        ),
        (
            "  a: {host: h, scratch: [scratch]}\n",
            "lab.yaml:3: nodes.a.scratch[0]: must be an absolute path",
        ),
    ],
    ids=[
        "name newline",
        "host newline",
        "host option",
        "jump subshell",
        "jump semicolon",
        "jump option",
        "user option",
        "mount dotdot",
        "container option",
        "scratch relative",
    ],
)
def test_hostile_values_are_refused(lab: Path, body: str, expected: str) -> None:
    assert problems(write(lab, HEADER + body)) == [expected]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            'prometheus: {url: "http://"}\n',
            "lab.yaml:1: prometheus.url: is not a valid URL (it needs a host and no spaces)",
        ),
        (
            'prometheus: {url: "http://h:99999"}\n',
            "lab.yaml:1: prometheus.url: is not a valid URL (Port out of range 0-65535)",
        ),
        (
            'defaults: {gpus: {driver: "590; x"}}\n',
            "lab.yaml:1: defaults.gpus.driver: must be a driver version or its prefix, e.g. 590 or 580.159",
        ),
        (
            'defaults: {sshd: {root_login: ["nope"]}}\n',
            "lab.yaml:1: defaults.sshd.root_login[0]: must be one of yes, no, prohibit-password,"
            " without-password, forced-commands-only",
        ),
    ],
    ids=["url without host", "url port", "driver", "root_login"],
)
def test_other_values_are_checked_whole(lab: Path, text: str, expected: str) -> None:
    assert problems(write(lab, text + "version: 1\nnodes:\n  a: {host: h}\n")) == [expected]


def test_the_patterns_themselves_refuse_a_trailing_newline() -> None:
    # `^...$` with re.match accepted "gpu1\n": each pattern must hold on its own, whatever runs before it.
    from console.inventory import rules

    assert rules.NODE_NAME_RE.fullmatch("gpu1\n") is None
    assert rules.CHECKS[(rules.Node, "host")]("h\n") is not None
    assert rules.CHECKS[(rules.SSHSettings, "jump")]("gw\n") is not None
    assert rules.CHECKS[(rules.SSHSettings, "user")]("ops\n") is not None
    assert rules.CHECKS[(rules.StorageSpec, "owner")]("1:1\n") is not None
    assert rules.CHECKS[(rules.StorageSpec, "mode")]("775\n") is not None


def test_good_users_and_jumps_still_pass(lab: Path) -> None:
    body = (
        "  gw: {host: gw.lab, ssh: {user: ops.admin}}\n"
        "  a: {host: h, ssh: {user: svc_gpu-1, jump: gw}}\n"
        "  b: {host: h2, ssh: {user: jane@corp.example, jump: 'ops@[fd00::1]:2222'}}\n"
    )
    inventory = load_inventory(write(lab, HEADER + body))
    assert [n.ssh.jump for n in inventory.nodes] == [None, "gw", "ops@[fd00::1]:2222"]


def test_mount_paths_are_normalised_and_spellings_of_one_path_are_duplicates(lab: Path) -> None:
    text = HEADER + "  a:\n    host: h\n    mounts:\n      - {path: /mnt/a}\n      - {path: /mnt/a/}\n"
    text += "      - {path: //mnt//a}\n      - {path: /mnt/./b/}\n"
    assert problems(write(lab, text)) == [
        "lab.yaml:7: nodes.a.mounts[1].path: duplicate path '/mnt/a' (same as mounts[0] on line 6)",
        "lab.yaml:8: nodes.a.mounts[2].path: duplicate path '/mnt/a' (same as mounts[0] on line 6)",
    ]
    good = HEADER + "  a: {host: h, mounts: [{path: //mnt//a/}, {path: /mnt/./b/}], scratch: [/scratch/]}\n"
    node = load_inventory(write(lab, good)).nodes[0]
    assert [m.path for m in node.mounts] == ["/mnt/a", "/mnt/b"]
    assert node.scratch == ("/scratch",)


def test_duplicate_scratch_and_storage_paths(lab: Path) -> None:
    text = HEADER + "  a:\n    host: h\n    scratch: [/s, /s/]\n    storage: [{path: /d}, {path: /d//}]\n"
    assert problems(write(lab, text)) == [
        "lab.yaml:5: nodes.a.scratch[1]: duplicate '/s' (same as scratch[0] on line 5)",
        "lab.yaml:6: nodes.a.storage[1].path: duplicate path '/d' (same as storage[0] on line 6)",
    ]


def test_duplicate_merge_keys_are_reported(lab: Path) -> None:
    text = "version: 1\nx: &x {refresh: 2}\ny: &y {refresh: 3}\nnodes:\n"
    text += "  a:\n    <<: *x\n    host: h\n    <<: *y\n"
    assert problems(write(lab, text))[-1] == "lab.yaml:8: nodes.a.<<: duplicate key (first defined on line 6)"


def test_a_problem_inside_a_merge_source_is_reported_once(lab: Path) -> None:
    text = "version: 1\nnodes:\n  a: &a {host: h, refresh: 1, refresh: 2}\n"
    text += "  b: {<<: *a, host: h2}\n  c: {<<: *a, host: h3}\n"
    assert problems(write(lab, text)) == [
        "lab.yaml:3: nodes.a.refresh: duplicate key (first defined on line 3)"
    ]


def test_lists_from_defaults_are_built_once_and_shared(lab: Path) -> None:
    # A long defaults.mounts under many nodes must not be rebuilt per node (quadratic in the file size).
    text = (
        "version: 1\ndefaults:\n  mounts: [{path: /a}, {path: /b}]\nnodes:\n  x: {host: h}\n  y: {host: h}\n"
    )
    x, y = load_inventory(write(lab, text)).nodes
    assert x.mounts is y.mounts


# --- errors are safe to print -----------------------------------------------------------------------------


def test_problems_never_carry_control_characters_from_the_file(lab: Path) -> None:
    text = textwrap.dedent(
        """\
        version: 1
        nodes:
          "gpu\\e]0;pwned\\a":
            host: "\\e[2J"
            groups: ["\\e]52;c;aGk=\\a"]
            "x\\u202ey": 1
          b: {host: h, ssh: {jump: "\\x9b2J"}}
        """
    )
    found = problems(write(lab, text))
    assert len(found) == 5
    for line in found:
        assert line.isprintable(), line
    assert "nodes.gpu\\x1b]0;pwned\\x07: node names must" in found[0]


def test_cli_inventory_check_prints_no_escape_bytes(lab: Path) -> None:
    lab.write_text('version: 1\nnodes:\n  a: {host: "\\e]0;title\\a\\e[2J"}\n')
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-m", "console", "inventory", "check", "lab.yaml"],
        cwd=lab.parent,
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert b"\x1b" not in done.stderr
    assert b"\x07" not in done.stderr
    assert b"\\x1b]0;title\\x07\\x1b[2J" in done.stderr


# --- every problem in one round ---------------------------------------------------------------------------


def test_thresholds_loops_and_duplicates_are_reported_with_the_other_errors(lab: Path) -> None:
    text = textwrap.dedent(
        """\
        version: 1
        prometheus: {url: "ftp://x", via: nowhere}
        nodes:
          a:
            host: h1
            refresh: 0
            thresholds: {gpu_temperature: {warn: 99}}
            ssh: {jump: b}
          b:
            host: h2
            ssh: {jump: a, port: 0}
            services:
              - {name: web, port: 80}
              - {name: web, port: 99999}
              - {name: web, port: 81}
          c:
            transport: telnet
            thresholds: {container_restarts: {warn: 9, crit: 2}}
        """
    )
    assert problems(write(lab, text)) == [
        "lab.yaml:2: prometheus.url: must start with http:// or https://",
        "lab.yaml:2: prometheus.via: 'nowhere' is not a node of this inventory",
        "lab.yaml:6: nodes.a.refresh: must be greater than 0",
        "lab.yaml:7: nodes.a.thresholds.gpu_temperature: warn (99) must not be above crit (95)",
        "lab.yaml:8: nodes.a.ssh.jump: jump chain loops: a -> b -> a",
        "lab.yaml:11: nodes.b.ssh.port: must be between 1 and 65535",
        "lab.yaml:11: nodes.b.ssh.jump: jump chain loops: b -> a -> b",
        "lab.yaml:14: nodes.b.services[1].port: must be between 1 and 65535",
        "lab.yaml:14: nodes.b.services[1].name: duplicate name 'web' (same as services[0] on line 13)",
        "lab.yaml:15: nodes.b.services[2].name: duplicate name 'web' (same as services[0] on line 13)",
        "lab.yaml:17: nodes.c.transport: expected one of ssh, local, got 'telnet'",
        "lab.yaml:18: nodes.c.thresholds.container_restarts: warn (9) must not be above crit (2)",
    ]


def test_a_long_jump_loop_is_found_once_per_member_and_shown_short(lab: Path) -> None:
    size = 3000
    body = "".join(f"  n{i}: {{host: h, ssh: {{jump: n{(i + 1) % size}}}}}\n" for i in range(size))
    found = problems(write(lab, HEADER + body))
    assert len(found) == size
    assert found[0] == (
        "lab.yaml:3: nodes.n0.ssh.jump: jump chain loops:"
        " n0 -> n1 -> n2 -> n3 -> … 2995 more … -> n2999 -> n0"
    )


def test_a_chain_into_a_loop_blames_only_the_loop(lab: Path) -> None:
    body = "  a: {host: h, ssh: {jump: b}}\n  b: {host: h, ssh: {jump: c}}\n  c: {host: h, ssh: {jump: b}}\n"
    assert problems(write(lab, HEADER + body)) == [
        "lab.yaml:4: nodes.b.ssh.jump: jump chain loops: b -> c -> b",
        "lab.yaml:5: nodes.c.ssh.jump: jump chain loops: c -> b -> c",
    ]


def test_a_raw_control_byte_in_the_file_is_named_with_its_line(lab: Path) -> None:
    lab.write_bytes(b"version: 1\nnodes:\n  a: {host: h\x1b[2J}\n")
    assert problems("lab.yaml") == ["lab.yaml:3: invalid YAML: character #x001b is not allowed in YAML"]
