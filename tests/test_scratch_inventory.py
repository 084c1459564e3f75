"""The inventory refuses a scratch path on a network mount: its disk use would be a statfs on NFS."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.inventory.loader import InventoryError, load_inventory

HEADER = "version: 1\nnodes:\n"


@pytest.fixture
def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path / "lab.yaml"


def problems(path: Path, text: str) -> list[str]:
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InventoryError) as info:
        load_inventory(path.name)
    return [str(problem) for problem in info.value.errors]


@pytest.mark.parametrize(
    "scratch", ["/mnt/scratch", "/mnt/scratch/", "/mnt/scratch/jobs", "//mnt//scratch/x/"]
)
def test_scratch_on_or_under_a_network_mount_is_refused(lab: Path, scratch: str) -> None:
    text = (
        HEADER
        + f"  a:\n    host: h\n    mounts: [{{path: /mnt/scratch}}]\n    scratch: [/data, '{scratch}']\n"
    )
    (problem,) = problems(lab, text)
    assert problem.startswith("lab.yaml:6: nodes.a.scratch[1]: '")
    assert problem.endswith(
        "' is on the network mount '/mnt/scratch': scratch lists local disks only"
        " (a statfs on a hung NFS server blocks)"
    )


def test_scratch_from_defaults_is_checked_against_each_nodes_mounts(lab: Path) -> None:
    text = "version: 1\ndefaults:\n  scratch: [/mnt/models/tmp]\nnodes:\n"
    text += "  a: {host: h, mounts: [{path: /mnt/models}]}\n  b: {host: h}\n"
    (problem,) = problems(lab, text)
    assert problem.startswith(
        "lab.yaml:3: defaults.scratch[0]: '/mnt/models/tmp' is on the network mount '/mnt/models' of node a:"
    )


@pytest.mark.parametrize("scratch", ["/mnt/scratch2", "/mnt", "/scratch"])
def test_local_scratch_beside_or_above_a_mount_is_fine(lab: Path, scratch: str) -> None:
    text = HEADER + f"  a: {{host: h, mounts: [{{path: /mnt/scratch}}], scratch: ['{scratch}']}}\n"
    lab.write_text(text, encoding="utf-8")
    node = load_inventory(lab.name).nodes[0]
    assert node.scratch == (scratch,)
