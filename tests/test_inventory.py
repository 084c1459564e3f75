"""Inventory loader: merged values, every error with its exact `file:line: key: message`, and lookup order."""

from __future__ import annotations

import pickle
import re
import textwrap
from importlib.resources import files
from pathlib import Path

import pytest

from console.inventory import (
    GpuExpectation,
    InventoryError,
    SSHSettings,
    Threshold,
    bundled_inventory,
    load_inventory,
    locate_inventory,
)

BUNDLED = sorted(p.name for p in Path(str(files("inventories"))).glob("*.yaml"))

HEADER = "version: 1\nnodes:\n"  # lines 1-2, so node bodies below start on line 3


@pytest.fixture
def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A writable `lab.yaml` in the current directory, so messages read exactly `lab.yaml:N: ...`."""
    monkeypatch.chdir(tmp_path)
    return tmp_path / "lab.yaml"


def write(path: Path, text: str) -> str:
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path.name


def problems(path: str) -> list[str]:
    with pytest.raises(InventoryError) as info:
        load_inventory(path)
    return [str(p) for p in info.value.errors]


# --- good inventories ---------------------------------------------------------------------------------


def test_pantheon_merges_defaults_key_by_key() -> None:
    inv = load_inventory(bundled_inventory("pantheon"))
    assert inv.name == "pantheon"
    assert [n.name for n in inv.nodes] == ["prometheus", "atlas", "cerberus"]
    prometheus = inv.node("prometheus")
    assert prometheus.host == "10.60.0.20"
    assert prometheus.transport == "ssh"
    assert prometheus.groups == ("compute", "gpu")
    # Per-node `user` wins; everything else still comes from defaults.ssh, `~` left unexpanded.
    assert prometheus.ssh == SSHSettings(
        user="admin",
        port=22,
        identity_file="~/.ssh/id_ed25519",
        known_hosts="~/.ssh/known_hosts",
        jump=None,
        connect_timeout=10.0,
    )
    assert prometheus.gpus == GpuExpectation(count=1, model="RTX 4000 Ada")
    assert prometheus.refresh == 2.0
    assert prometheus.thresholds.gpu_temperature == Threshold(warn=80.0, crit=95.0)
    atlas = inv.node("atlas")
    assert (atlas.ssh.user, atlas.ssh.port, atlas.refresh, atlas.gpus) == ("ops", 22, 15.0, None)
    assert inv.node("cerberus").ssh.port == 2222
    assert inv.groups == ("compute", "gpu", "storage", "network")


def test_inferno_bastion_overrides_inherited_jump_and_gpus() -> None:
    inv = load_inventory(bundled_inventory("inferno"))
    assert inv.node("bastion").ssh.jump is None
    assert inv.node("bastion").gpus is None
    racked = [n for n in inv.nodes if n.name != "bastion"]
    assert len(racked) == 3
    assert {n.ssh.jump for n in racked} == {"bastion"}
    assert inv.node("inferno-host-compute-1").gpus == GpuExpectation(count=4, model="RTX PRO 6000")
    assert inv.node("inferno-host-l40s-1").thresholds.gpu_temperature == Threshold(warn=80.0, crit=90.0)
    assert [n.name for n in inv.nodes if "circle3" in n.groups] == ["bastion", "inferno-host-l40s-1"]


def test_minimal_inventory_gets_model_defaults(lab: Path) -> None:
    inv = load_inventory(write(lab, HEADER + "  gpu1: {host: gpu1.lab}\n"))
    node = inv.node("gpu1")
    assert inv.name == "lab"  # no `name:`: the file's stem
    assert inv.path == "lab.yaml"
    assert node.ssh == SSHSettings()
    assert node.refresh == 5.0
    assert isinstance(node.refresh, float)
    assert node.thresholds.gpu_temperature == Threshold(warn=85.0, crit=95.0)
    assert node.gpus is None


def test_local_transport_defaults_host_to_localhost(lab: Path) -> None:
    inv = load_inventory(
        write(lab, HEADER + "  here: {transport: local}\n  there: {transport: local, host: h}\n")
    )
    assert (inv.node("here").transport, inv.node("here").host) == ("local", "localhost")
    assert inv.node("there").host == "h"


def test_defaults_merge_and_null_override(lab: Path) -> None:
    path = write(
        lab,
        """\
        version: 1
        defaults:
          ssh: {user: ops, port: 2200, jump: "ops@10.0.0.2:2222"}
          gpus: {count: 4}
          thresholds: {gpu_temperature: {crit: 90}}
        nodes:
          a:
            host: 10.0.0.10
            ssh: {port: 22}
            gpus: {model: A100}
            thresholds: {gpu_temperature: {warn: 70}}
          b:
            host: 10.0.0.11
            ssh: {jump: null}
            gpus: null
        """,
    )
    inv = load_inventory(path)
    a, b = inv.node("a"), inv.node("b")
    assert (a.ssh.user, a.ssh.port, a.ssh.jump) == ("ops", 22, "ops@10.0.0.2:2222")
    assert a.gpus == GpuExpectation(count=4, model="A100")
    assert a.thresholds.gpu_temperature == Threshold(warn=70.0, crit=90.0)
    assert (b.ssh.port, b.ssh.jump, b.gpus) == (2200, None, None)
    assert b.thresholds.gpu_temperature == Threshold(warn=85.0, crit=90.0)


def test_scalars_numbers_as_strings_and_ipv6(lab: Path) -> None:
    body = (
        '  a: {host: "fe80::1", gpus: {model: 4090}, groups: [rack-1, 7], ssh: {jump: "me@[fe80::2]:2222"}}\n'
    )
    node = load_inventory(write(lab, HEADER + body)).node("a")
    assert (node.host, node.gpus, node.groups) == ("fe80::1", GpuExpectation(model="4090"), ("rack-1", "7"))


def test_edge_values_that_are_allowed(lab: Path) -> None:
    body = "  a: {host: h, ssh: {host_key_policy: accept-new, keepalive_interval: 0}, gpus: {count: 0}}\n"
    node = load_inventory(write(lab, HEADER + body)).node("a")
    assert (node.ssh.host_key_policy, node.ssh.keepalive_interval, node.gpus) == (
        "accept-new",
        0.0,
        GpuExpectation(count=0),
    )


def test_yaml_merge_keys_are_applied(lab: Path) -> None:
    path = write(
        lab,
        """\
        version: 1
        nodes:
          a: &common
            host: 10.0.0.1
            groups: [gpu]
            refresh: 3
          b:
            <<: *common
            host: 10.0.0.2
        """,
    )
    b = load_inventory(path).node("b")
    assert (b.host, b.groups, b.refresh) == ("10.0.0.2", ("gpu",), 3.0)


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_inventories_validate(name: str) -> None:
    inv = load_inventory(bundled_inventory(name.removesuffix(".yaml")))
    assert inv.nodes
    assert inv.name == name.removesuffix(".yaml")


def test_all_example_inventories_are_bundled() -> None:
    assert set(BUNDLED) >= {
        "local.yaml",
        "pantheon.yaml",
        "monitoring-stack.yaml",
        "runpod.yaml",
        "inferno.yaml",
    }


def test_local_inventory_is_one_local_node_without_gpu_expectation() -> None:
    inv = load_inventory(bundled_inventory("local"))
    assert [(n.transport, n.host, n.gpus) for n in inv.nodes] == [("local", "localhost", None)]


# --- errors ---------------------------------------------------------------------------------------------


def node_case(body: str) -> str:
    """Node `gpu1` on line 3, its body from line 4; `host:` is appended when the body has none."""
    body = textwrap.dedent(body) + ("" if re.search(r"^host:", body, re.M) else "\nhost: 10.0.0.1")
    return HEADER + "  gpu1:\n" + textwrap.indent(body, "    ") + "\n"


JUMP_HINT = "expected an inventory node name or [user@]host[:port]"
NODE_ERRORS = {
    "unknown key": ("ssh: {prot: 22}", "lab.yaml:4: nodes.gpu1.ssh.prot: unknown key"),
    "port string": ('ssh: {port: "abc"}', "lab.yaml:4: nodes.gpu1.ssh.port: expected an integer, got 'abc'"),
    "port bool": ("ssh: {port: true}", "lab.yaml:4: nodes.gpu1.ssh.port: expected an integer, got a boolean"),
    "port float": ("ssh: {port: 22.5}", "lab.yaml:4: nodes.gpu1.ssh.port: expected an integer, got a number"),
    "port range": ("ssh: {port: 70000}", "lab.yaml:4: nodes.gpu1.ssh.port: must be between 1 and 65535"),
    "port zero": ("ssh: {port: 0}", "lab.yaml:4: nodes.gpu1.ssh.port: must be between 1 and 65535"),
    "timeout zero": (
        "ssh: {connect_timeout: 0}",
        "lab.yaml:4: nodes.gpu1.ssh.connect_timeout: must be greater than 0",
    ),
    "timeout negative": (
        "ssh:\n  command_timeout: -5",
        "lab.yaml:5: nodes.gpu1.ssh.command_timeout: must be greater than 0",
    ),
    "refresh zero": ("refresh: 0", "lab.yaml:4: nodes.gpu1.refresh: must be greater than 0"),
    "refresh inf": (
        "refresh: .inf",
        "lab.yaml:4: nodes.gpu1.refresh: expected a finite number, got a number",
    ),
    "refresh bool": ("refresh: yes", "lab.yaml:4: nodes.gpu1.refresh: expected a number, got a boolean"),
    "transport": (
        "transport: telnet",
        "lab.yaml:4: nodes.gpu1.transport: expected one of ssh, local, got 'telnet'",
    ),
    "host key policy": (
        "ssh: {host_key_policy: lax}",
        "lab.yaml:4: nodes.gpu1.ssh.host_key_policy: expected one of strict, accept-new, got 'lax'",
    ),
    "groups not list": ("groups: compute", "lab.yaml:4: nodes.gpu1.groups: expected a list, got 'compute'"),
    "groups item": (
        "groups:\n  - compute\n  - {rack: a}",
        "lab.yaml:6: nodes.gpu1.groups[1]: expected a non-empty string, got a mapping",
    ),
    "gpu count": ("gpus: {count: -1}", "lab.yaml:4: nodes.gpu1.gpus.count: must be 0 or more"),
    "gpus not mapping": ("gpus: 4", "lab.yaml:4: nodes.gpu1.gpus: expected a mapping, got an integer"),
    "jump syntax": (
        "ssh: {jump: 'ops@:22'}",
        "lab.yaml:4: nodes.gpu1.ssh.jump: " + JUMP_HINT + ", got 'ops@:22'",
    ),
    "jump port": (
        "ssh: {jump: 'gw:99999'}",
        "lab.yaml:4: nodes.gpu1.ssh.jump: " + JUMP_HINT + ", got 'gw:99999'",
    ),
    "host with user": (
        "host: root@10.0.0.1",
        "lab.yaml:4: nodes.gpu1.host: must be a host name or address; put the user in ssh.user",
    ),
    "host with port": (
        "host: '10.0.0.1:22'",
        "lab.yaml:4: nodes.gpu1.host: must be a host name or address; put the port in ssh.port",
    ),
    "empty string": ("host: ''", "lab.yaml:4: nodes.gpu1.host: expected a non-empty string, got ''"),
    "null for str": (
        "ssh: {known_hosts: null}",
        "lab.yaml:4: nodes.gpu1.ssh.known_hosts: expected a non-empty string, got null",
    ),
    "name in body": ("name: other", "lab.yaml:4: nodes.gpu1.name: not allowed here"),
    "warn above crit": (
        "thresholds:\n  gpu_temperature: {warn: 96}",
        "lab.yaml:5: nodes.gpu1.thresholds.gpu_temperature: warn (96) must not be above crit (95)",
    ),
    "jump to itself": (
        "ssh: {jump: gpu1}",
        "lab.yaml:4: nodes.gpu1.ssh.jump: jump chain loops: gpu1 -> gpu1",
    ),
    "duplicate key": (
        "host: 10.0.0.1\nrefresh: 2\nhost: 10.0.0.2",
        "lab.yaml:6: nodes.gpu1.host: duplicate key (first defined on line 4)",
    ),
}


@pytest.mark.parametrize(("body", "expected"), NODE_ERRORS.values(), ids=NODE_ERRORS.keys())
def test_node_errors(lab: Path, body: str, expected: str) -> None:
    assert problems(write(lab, node_case(body))) == [expected]


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


def test_error_attributes_and_all_problems_collected(lab: Path) -> None:
    path = write(
        lab,
        """\
        version: 1
        defaults:
          ssh: {user: ops, prot: 22}
        nodes:
          gpu1:
            host: 10.0.0.1
            ssh: {port: "abc", connect_timeout: 0}
            groups: compute
          gpu2:
            transport: telnet
            gpus: {count: -2}
          "bad name":
            host: 10.0.0.3
        """,
    )
    with pytest.raises(InventoryError) as info:
        load_inventory(path)
    err = info.value
    assert (err.path, err.line, err.key, err.message) == ("lab.yaml", 3, "defaults.ssh.prot", "unknown key")
    assert str(err) == "lab.yaml:3: defaults.ssh.prot: unknown key"
    assert [str(p) for p in err.errors] == [
        "lab.yaml:3: defaults.ssh.prot: unknown key",
        "lab.yaml:7: nodes.gpu1.ssh.port: expected an integer, got 'abc'",
        "lab.yaml:7: nodes.gpu1.ssh.connect_timeout: must be greater than 0",
        "lab.yaml:8: nodes.gpu1.groups: expected a list, got 'compute'",
        "lab.yaml:10: nodes.gpu2.transport: expected one of ssh, local, got 'telnet'",
        "lab.yaml:11: nodes.gpu2.gpus.count: must be 0 or more",
        "lab.yaml:12: nodes.bad name: node names must start with a letter or digit and use only A-Za-z0-9_.-",
    ]
    assert err.errors[0].line == 3
    assert err.errors[1].key == "nodes.gpu1.ssh.port"
    copy = pickle.loads(pickle.dumps(err))
    assert (str(copy), copy.errors) == (str(err), err.errors)


def test_jump_loops_between_nodes_and_through_defaults(lab: Path) -> None:
    path = write(
        lab,
        """\
        version: 1
        defaults:
          ssh: {jump: bastion}
        nodes:
          bastion:
            host: 10.0.0.1
          a:
            host: 10.0.0.2
            ssh: {jump: b}
          b:
            host: 10.0.0.3
            ssh: {jump: a}
          c:
            host: 10.0.0.4
        """,
    )
    assert problems(path) == [
        "lab.yaml:3: nodes.bastion.ssh.jump: jump chain loops: bastion -> bastion"
        " (inherited from defaults.ssh.jump)",
        "lab.yaml:9: nodes.a.ssh.jump: jump chain loops: a -> b -> a",
        "lab.yaml:12: nodes.b.ssh.jump: jump chain loops: b -> a -> b",
    ]


def test_jump_chain_through_other_nodes_is_fine(lab: Path) -> None:
    text = HEADER + "  gw: {host: 10.0.0.1}\n  mid: {host: 10.0.0.2, ssh: {jump: gw}}\n"
    inv = load_inventory(write(lab, text + "  leaf: {host: 10.0.0.3, ssh: {jump: mid}}\n"))
    assert [n.ssh.jump for n in inv.nodes] == [None, "gw", "mid"]


def test_defaults_thresholds_problem_reported_once(lab: Path) -> None:
    path = write(
        lab,
        """\
        version: 1
        defaults:
          thresholds:
            gpu_temperature: {warn: 90, crit: 80}
        nodes:
          a: {host: h1}
          b: {host: h2}
          c: {host: h3, thresholds: {gpu_temperature: {crit: 95}}}
        """,
    )
    assert problems(path) == [
        "lab.yaml:4: defaults.thresholds.gpu_temperature: warn (90) must not be above crit (80)",
    ]


def test_duplicate_keys_inside_defaults(lab: Path) -> None:
    text = "version: 1\ndefaults:\n  refresh: 5\n  ssh: {user: a}\n  refresh: 6\nnodes:\n  a: {host: h}\n"
    assert problems(write(lab, text)) == [
        "lab.yaml:5: defaults.refresh: duplicate key (first defined on line 3)"
    ]


# --- locating the inventory -----------------------------------------------------------------------------


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / "home").mkdir()
    return tmp_path / "home"


def put_config(base: Path) -> Path:
    config = base / "opsconsole" / "inventory.yaml"
    config.parent.mkdir(parents=True)
    config.write_text(HEADER + "  a: {host: h}\n", encoding="utf-8")
    return config


def test_locate_cli_path_wins(home: Path) -> None:
    put_config(home / ".config")
    environ = {"HOME": str(home), "OPSCONSOLE_INVENTORY": "/env/inv.yaml"}
    assert locate_inventory("lab.yaml", environ) == Path("lab.yaml")
    assert locate_inventory("/does/not/exist.yaml", environ) == Path(
        "/does/not/exist.yaml"
    )  # loader reports it


def test_locate_env_before_config(home: Path) -> None:
    put_config(home / ".config")
    assert locate_inventory(None, {"HOME": str(home), "OPSCONSOLE_INVENTORY": "/env/inv.yaml"}) == Path(
        "/env/inv.yaml"
    )


def test_locate_expands_tilde_with_the_given_home(home: Path) -> None:
    environ = {"HOME": str(home), "OPSCONSOLE_INVENTORY": "~/fleet.yaml"}
    assert locate_inventory(None, environ) == home / "fleet.yaml"
    assert locate_inventory("~/lab.yaml", environ) == home / "lab.yaml"


def test_locate_empty_env_var_is_unset(home: Path) -> None:
    config = put_config(home / ".config")
    assert locate_inventory(None, {"HOME": str(home), "OPSCONSOLE_INVENTORY": ""}) == config


def test_locate_xdg_config_home(home: Path, tmp_path: Path) -> None:
    put_config(home / ".config")  # must lose to $XDG_CONFIG_HOME
    config = put_config(tmp_path / "xdg")
    assert locate_inventory(None, {"HOME": str(home), "XDG_CONFIG_HOME": str(tmp_path / "xdg")}) == config


def test_locate_xdg_defaults_to_home_dot_config(home: Path) -> None:
    config = put_config(home / ".config")
    assert locate_inventory(None, {"HOME": str(home)}) == config
    assert locate_inventory(None, {"HOME": str(home), "XDG_CONFIG_HOME": "relative/dir"}) == config


def test_locate_falls_back_to_bundled_local(home: Path, tmp_path: Path) -> None:
    environ = {"HOME": str(home), "XDG_CONFIG_HOME": str(tmp_path / "empty-xdg")}
    found = locate_inventory(None, environ)
    assert found == bundled_inventory("local")
    assert found.is_file()
    assert found.name == "local.yaml"
    assert load_inventory(found).name == "local"


def test_bundled_inventory_unknown_name() -> None:
    with pytest.raises(InventoryError, match="no bundled inventory of that name") as info:
        bundled_inventory("nope")
    assert "pantheon" in str(info.value)
    with pytest.raises(InventoryError):
        bundled_inventory("../pyproject")


def test_problems_are_sorted_by_line(lab: Path) -> None:
    # The thresholds check runs after every node is converted, yet its line-4 problem must come first.
    path = write(
        lab,
        """\
        version: 1
        defaults:
          thresholds:
            gpu_temperature: {warn: 90, crit: 80}
        nodes:
          a: {host: h1}
          b:
            host: h2
            refersh: 2
        """,
    )
    assert problems(path) == [
        "lab.yaml:4: defaults.thresholds.gpu_temperature: warn (90) must not be above crit (80)",
        "lab.yaml:9: nodes.b.refersh: unknown key",
    ]


def test_docs_name_every_inventory_key() -> None:
    # docs/inventory.md is the format's reference: every key the loader takes is named there as `key`.
    import dataclasses

    from console.inventory import model
    from console.inventory.loader import _TOP_KEYS

    docs = (Path(__file__).resolve().parents[1] / "docs" / "inventory.md").read_text(encoding="utf-8")
    sections = [model.Node, model.SSHSettings, model.GpuExpectation, model.DockerSettings, model.MountSpec]
    sections += [model.ServiceSpec, model.HttpProbe, model.PrometheusSettings, model.Thresholds]
    sections += [model.SshdPolicy, model.StorageSpec]
    keys = {f.name for tp in sections for f in dataclasses.fields(tp)} | set(_TOP_KEYS)
    missing = sorted(key for key in keys - {"name"} if f"`{key}`" not in docs)
    assert missing == []
