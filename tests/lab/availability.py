"""What a test does when a lab part (sshd, dockerd, Prometheus, ganesha, FUSE) cannot run on this machine.

In CI (`CI` set, as `.ci/run` runs) a missing part is a failure: the whole suite must really run there. On a
developer's machine without root or the system packages, the tests that need the part are skipped with one
reason per part, and `pytest -m "not lab"` runs without any of them. The tiers (markers set by
tests/conftest.py): unit (`-m "not lab and not ui and not slow"`: parsers, rules, models; seconds), ui (`-m
ui`: Textual pilot and snapshot tests), slow (`-m slow`: tests that start a Python interpreter), lab (`-m
lab`: real sshd, dockerd, Prometheus, NFS, FUSE; root).
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

HOW_TO_RUN = (
    "the whole suite needs root and the packages .ci/run installs; without them: pytest -m 'not lab' "
    "(the unit tier alone: pytest -m 'not lab and not ui and not slow')"
)


def lab_unavailable(part: str, cause: object) -> NoReturn:
    message = f"lab: {part} cannot run here ({cause})"
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(f"{message}; {HOW_TO_RUN}")
