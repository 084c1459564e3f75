"""Install the `kubectl`/`oc` and `crictl` stand-ins (tests/lab/kubectl, tests/lab/crictl: RECORDED, not the
real tools) on a lab node's PATH, with their JSON (tests/fixtures/kubernetes, tests/fixtures/crio).

No kube-apiserver, kind, kwok, CRI-O or crictl can run here (docs: /work/shared/LAB-NOTES.md); the SSH, the
read-only allow-list, the collectors and the parsers the tests drive through them are real.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.lab.sshd import LabNode

HERE = Path(__file__).parent
FIXTURES = HERE.parent / "fixtures"
KUBE_JSON = FIXTURES / "kubernetes"
CRIO_JSON = FIXTURES / "crio"


def _copy(source: Path, target: Path) -> None:
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target)
    os.chmod(target, 0o755)
    for path in target.iterdir():
        os.chmod(path, 0o644)


@contextmanager
def kube_standins(
    node: LabNode, *, context: str | None = None, kube: Path = KUBE_JSON, crio: Path | None = CRIO_JSON
) -> Iterator[Path]:
    """kubectl and oc (and crictl unless crio is None) on `node`'s PATH while inside; yields the kube data
    dir (a test may change its files: they are the node's copy)."""
    public = node.bin_dir.parent
    data = public / "kube-replay"
    _copy(kube, data)
    if context is not None:
        (data / "context").write_text(context)
        os.chmod(data / "context", 0o644)
    installed = [node.bin_dir / "kubectl", node.bin_dir / "oc"]
    for target in installed:
        shutil.copyfile(HERE / "kubectl", target)
        os.chmod(target, 0o755)
    if crio is not None:
        _copy(crio, public / "crio-replay")
        shutil.copyfile(HERE / "crictl", node.bin_dir / "crictl")
        os.chmod(node.bin_dir / "crictl", 0o755)
        installed.append(node.bin_dir / "crictl")
    try:
        yield data
    finally:
        for target in installed:
            target.unlink(missing_ok=True)
        shutil.rmtree(data, ignore_errors=True)
        shutil.rmtree(public / "crio-replay", ignore_errors=True)
