"""Check results and reports: they live on the model floor (`console/model/checks.py`), importable here."""

from __future__ import annotations

from console.model.checks import CheckReport as CheckReport
from console.model.checks import CheckResult as CheckResult
from console.model.checks import Perf as Perf
from console.model.checks import Status as Status
from console.model.checks import counted as counted
