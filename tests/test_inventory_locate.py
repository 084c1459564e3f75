"""Where the inventory is found: --inventory, $OPSCONSOLE_INVENTORY, the XDG config file, the bundled one."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.inventory import InventoryError, bundled_inventory, load_inventory, locate_inventory

HEADER = "version: 1\nnodes:\n"


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
