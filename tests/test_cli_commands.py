"""The command line as a user meets it: argument refusals before any check runs, finding and copying the
bundled inventories, and a start that does not import the whole console. Real processes, no lab needed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from console.checks.lock import lock_path
from console.inventory.locate import bundled_inventory, bundled_names

ROOT = Path(__file__).resolve().parent.parent
TWO_NODES = (
    "version: 1\nname: two\nnodes:\n  a:\n    transport: local\n    groups: [g]\n  b:\n    transport: local\n"
)


def opsconsole(
    *args: str, cwd: Path = ROOT, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "console", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
    )


@pytest.fixture
def two_nodes(tmp_path: Path) -> Path:
    path = tmp_path / "two.yaml"
    path.write_text(TWO_NODES)
    return path


@pytest.mark.parametrize("value", ["nan", "0", "-1", "inf", "-inf", "soon"])
def test_timeout_is_a_positive_finite_number(two_nodes: Path, value: str) -> None:
    done = opsconsole("-i", str(two_nodes), "--check", f"--timeout={value}")
    assert done.returncode == 3  # UNKNOWN, as a Nagios plugin's usage error must be (argparse says 2)
    assert done.stdout == ""
    assert "argument --timeout: " in done.stderr
    assert repr(value) in done.stderr
    assert "Traceback" not in done.stderr
    assert not lock_path(str(two_nodes)).exists()  # refused before anything ran


def test_usage_errors_without_check_keep_argparse_exit_code() -> None:
    done = opsconsole("--timeout", "nan", "inventory", "list")
    assert done.returncode == 2
    assert "argument --timeout" in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--node", "b", "--group", "g"), "no checks selected: no node matches --node b and --group g"),
        (
            ("--only", "nosuch.*"),
            "no checks selected: --only nosuch.* left none of the checks here (ssh.reachable, gpu.present",
        ),
        (("--skip", "*"), "no checks selected: --skip * left none of"),
        (("--only", "gpu.*", "--skip", "gpu.*"), "no checks selected: --only gpu.* --skip gpu.* left none"),
    ],
)
def test_a_selection_of_nothing_is_unknown(two_nodes: Path, args: tuple[str, ...], message: str) -> None:
    # Before: "OK two: (0.01s)", exit 0: a cron job watching nothing looked healthy forever.
    done = opsconsole("-i", str(two_nodes), "--check", *args)
    assert (done.returncode, done.stdout) == (3, "")
    assert done.stderr.startswith(f"opsconsole: {message}"), done.stderr
    assert not lock_path(str(two_nodes)).exists()


def test_a_selection_that_selects_something_runs(two_nodes: Path) -> None:
    done = opsconsole("-i", str(two_nodes), "--check", "--node", "a", "--group", "g", "--only", "ssh.*")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].startswith("OK two: 1 ok")


@pytest.mark.parametrize("where", ["/missing/dir/x.txt", "{file}/x.txt", "{dir}"])
def test_output_that_cannot_be_written_is_refused_first(two_nodes: Path, tmp_path: Path, where: str) -> None:
    a_file = tmp_path / "plain"
    a_file.write_text("")
    output = where.format(file=a_file, dir=tmp_path)
    done = opsconsole("-i", str(two_nodes), "--check", "--output", output)
    expected = {
        "/missing/dir/x.txt": "directory /missing/dir does not exist",
        "{file}/x.txt": f"{a_file} is not a directory",
        "{dir}": "is a directory",
    }[where]
    # Before: every check ran, then "internal error: FileNotFoundError ... '.x.txt.rxjyy.tmp'".
    assert (done.returncode, done.stdout) == (3, "")
    assert done.stderr == f"opsconsole: --output {output}: {expected}\n"
    assert not lock_path(str(two_nodes)).exists()


def test_i_name_finds_a_bundled_example() -> None:
    done = opsconsole("-i", "pantheon", "inventory", "check")
    assert done.returncode == 0, done.stderr
    groups = "compute, gpu, storage, network"
    assert (
        done.stdout
        == f"{bundled_inventory('pantheon')}: ok: inventory 'pantheon', 3 nodes, groups: {groups}\n"
    )
    env = opsconsole("inventory", "check", env={"OPSCONSOLE_INVENTORY": "runpod"})
    assert "inventory 'runpod'" in env.stdout


def test_a_file_of_that_name_wins_over_the_bundled_example(tmp_path: Path) -> None:
    (tmp_path / "pantheon").write_text(TWO_NODES)
    done = opsconsole("-i", "pantheon", "inventory", "check", cwd=tmp_path)
    assert done.stdout == "pantheon: ok: inventory 'two', 2 nodes, groups: g\n"


def test_an_unknown_name_lists_the_bundled_ones() -> None:
    done = opsconsole("-i", "nosuch", "--check")
    assert done.returncode == 3
    bundled = ", ".join(bundled_names())
    assert done.stderr == (
        f"opsconsole: nosuch: no such file, and no bundled inventory of that name (bundled: {bundled})\n"
    )
    path = opsconsole("-i", "./nosuch.yaml", "--check")
    assert path.stderr == "opsconsole: nosuch.yaml: file not found\n"  # a path is reported as a path


def test_inventory_check_without_path_uses_the_same_lookup(two_nodes: Path, isolated_home: Path) -> None:
    # Before: `inventory check` required PATH and ignored -i and $OPSCONSOLE_INVENTORY.
    assert f"{two_nodes}: ok" in opsconsole("-i", str(two_nodes), "inventory", "check").stdout
    via_env = opsconsole("inventory", "check", env={"OPSCONSOLE_INVENTORY": str(two_nodes)})
    assert via_env.stdout.startswith(f"{two_nodes}: ok")
    assert "inventory 'local', 1 node," in opsconsole("inventory", "check").stdout  # singular: "1 node"
    bad = opsconsole("inventory", "check", env={"OPSCONSOLE_INVENTORY": str(isolated_home / "none.yaml")})
    assert (bad.returncode, bad.stderr) == (1, f"opsconsole: {isolated_home / 'none.yaml'}: file not found\n")


def test_inventory_list_names_every_example_and_the_current_pick(
    two_nodes: Path, isolated_home: Path
) -> None:
    done = opsconsole("inventory", "list")
    assert done.returncode == 0
    lines = done.stdout.splitlines()
    for name in bundled_names():
        assert any(line.split()[:1] == [name] and len(line.split()) > 3 for line in lines[1:]), name
    assert "  pantheon          A small home lab: one GPU compute node" in done.stdout
    assert lines[-1] == f"the lookup picks now: {bundled_inventory('local')} (from the bundled default)"
    assert opsconsole("-i", str(two_nodes), "inventory", "list").stdout.splitlines()[-1] == (
        f"the lookup picks now: {two_nodes} (from -i)"
    )
    config = isolated_home / ".config" / "opsconsole" / "inventory.yaml"
    config.parent.mkdir(parents=True)
    config.write_text(TWO_NODES)
    assert opsconsole("inventory", "list").stdout.splitlines()[-1] == (
        f"the lookup picks now: {config} (from the config file)"
    )


def test_inventory_init_copies_to_the_config_file_and_never_overwrites(isolated_home: Path) -> None:
    config = isolated_home / ".config" / "opsconsole" / "inventory.yaml"
    done = opsconsole("inventory", "init", "pantheon")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == f"wrote {config} (a copy of the bundled 'pantheon' inventory)"
    assert config.read_bytes() == bundled_inventory("pantheon").read_bytes()
    assert "inventory 'pantheon'" in opsconsole("inventory", "check").stdout  # the lookup now finds it
    config.write_text(TWO_NODES)  # the user's edits
    again = opsconsole("inventory", "init")
    assert (again.returncode, again.stdout) == (1, "")
    assert again.stderr == f"opsconsole: {config} exists: not overwritten (--force replaces it)\n"
    assert config.read_text() == TWO_NODES
    forced = opsconsole("inventory", "init", "--force")
    assert forced.returncode == 0
    assert config.read_bytes() == bundled_inventory("local").read_bytes()


def test_inventory_init_to_a_path(tmp_path: Path) -> None:
    dest = tmp_path / "fleet.yaml"
    assert opsconsole("inventory", "init", "runpod", str(dest)).returncode == 0
    assert dest.read_bytes() == bundled_inventory("runpod").read_bytes()
    only_path = tmp_path / "mine.yaml"
    assert opsconsole("inventory", "init", str(only_path)).returncode == 0  # one argument that is a path
    assert only_path.read_bytes() == bundled_inventory("local").read_bytes()
    missing = opsconsole("inventory", "init", "local", "/missing/d/x.yaml")
    assert (missing.returncode, missing.stderr) == (
        1,
        "opsconsole: /missing/d/x.yaml: directory /missing/d does not exist\n",
    )
    unknown = opsconsole("inventory", "init", "nosuch", str(tmp_path / "n.yaml"))
    assert unknown.returncode == 1
    assert "no bundled inventory of that name" in unknown.stderr


def test_inventory_init_replaces_a_symlink_never_writes_through_it(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep")
    link = tmp_path / "fleet.yaml"
    link.symlink_to(victim)
    assert opsconsole("inventory", "init", "local", str(link)).returncode == 1
    assert opsconsole("inventory", "init", "local", str(link), "--force").returncode == 0
    assert (victim.read_text(), link.is_symlink()) == ("keep", False)


HEAVY = (
    "asyncssh",
    "aiodocker",
    "textual",
    "aiohttp",
    "console.checks",
    "console.streams.source",
    "console.transport",
)
PROBE = """
import sys
from console.cli import main
try:
    main({argv!r})
except SystemExit:
    pass
heavy = sorted({{name.split(".")[0] if not name.startswith("console") else ".".join(name.split(".")[:2])
    for name in sys.modules if name.startswith({heavy!r})}})
print("HEAVY", heavy, file=sys.stderr)
"""


@pytest.mark.parametrize(
    "argv",
    [
        ["--version"],
        ["--help"],
        ["inventory", "check", str(ROOT / "inventories" / "pantheon.yaml")],
        ["inventory", "list"],
    ],
)
def test_quick_commands_import_nothing_heavy(argv: list[str]) -> None:
    # Before: console.cli imported the checks, asyncssh and aiodocker up front (0.6 s for --version).
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(argv=argv, heavy=HEAVY)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stderr.splitlines()[-1] == "HEAVY []", done.stderr


def test_the_light_parser_is_the_full_parser() -> None:
    from console import checkmode, cli
    from console.wizards import cli as wizard_cli

    assert cli.FORMATS == checkmode.FORMATS
    assert cli.WIZARD_COMMANDS == wizard_cli.WIZARD_COMMANDS
    # The wizards' parser is built only when a wizard is named; --help must read the same either way.
    assert cli.build_parser([]).format_help() == cli.build_parser(["wizard"]).format_help()


def test_checks_that_depend_on_what_a_node_answers_can_be_selected(tmp_path: Path) -> None:
    from console.checkmode import CheckOptions
    from console.checks.cli import selection_problem
    from console.inventory import load_inventory

    path = tmp_path / "docker.yaml"
    path.write_text(TWO_NODES + "    docker: {}\n")
    inventory = load_inventory(path)
    # container.health is never planned (it needs a healthcheck to exist), yet --only may ask for it.
    assert selection_problem(inventory, CheckOptions(only=("container.health",))) is None
    assert selection_problem(inventory, CheckOptions(only=("container.health",), nodes=("a",))) is not None
