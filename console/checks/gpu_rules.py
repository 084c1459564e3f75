"""Rules for a node's GPUs. Pure functions, no I/O.

Check ids (no target; per-GPU detail is in the summary and the perfdata):
- `gpu.present`: critical when the inventory expects GPUs and none answer; ok "no GPU tooling" when none are
  expected.
- `gpu.count`: critical unless the number of GPUs equals `gpus.count` (only when set).
- `gpu.model`: critical unless every GPU's name contains `gpus.model`, case-insensitive (only when set).
- `gpu.driver`: critical unless every GPU's driver equals `gpus.driver` or starts with it and a dot
  ("590" accepts 590.48.01, not 5900.1) (only when set).
- `gpu.temperature`: the hottest GPU against `thresholds.gpu_temperature`.
- `gpu.ecc`: critical when any GPU counts uncorrected (volatile) ECC errors; ok "ECC not reported" where no
  GPU reports ECC (consumer boards): unknown there would page forever.
- `gpu.power`: the GPUs' summed draw against `power_budget_w`: above it critical, above 90 % warning
  (only when set).
"""

from __future__ import annotations

from collections.abc import Sequence

from console.checks.levels import at_or_above, errors_level
from console.checks.model import CheckResult, Perf, Status, counted
from console.collectors.gpu import GpuReading, GpuSnapshot
from console.inventory.model import Node
from console.text import finite

PRESENT = "gpu.present"
COUNT = "gpu.count"
MODEL = "gpu.model"
DRIVER = "gpu.driver"
TEMPERATURE = "gpu.temperature"
ECC = "gpu.ecc"
POWER = "gpu.power"

POWER_WARN_FRACTION = 0.9
# Checks about what the GPUs report: with no GPU tooling on a node that expects none, they are left out.
_READING_CHECKS = (TEMPERATURE, ECC)


def planned_gpu(node: Node) -> tuple[str, ...]:
    """The GPU check ids a node gets, known before anything runs (all with target None)."""
    expected = node.gpus
    checks = [PRESENT]
    if expected is not None and expected.count is not None:
        checks.append(COUNT)
    if expected is not None and expected.model:
        checks.append(MODEL)
    if expected is not None and expected.driver:
        checks.append(DRIVER)
    checks += [TEMPERATURE, ECC]
    if node.power_budget_w is not None:
        checks.append(POWER)
    return tuple(checks)


def evaluate_gpu(node: Node, gpu: GpuSnapshot | None) -> tuple[CheckResult, ...]:
    """Results for the node's GPU checks; a None snapshot (no GPU data at all) makes every one UNKNOWN."""
    if gpu is None:
        return tuple(
            CheckResult(node.name, check, Status.UNKNOWN, "no GPU data") for check in planned_gpu(node)
        )
    return tuple(_gpu_results(node, gpu))


def _gpu_results(node: Node, gpu: GpuSnapshot) -> list[CheckResult]:
    expected = node.gpus
    expects_gpus = expected is not None and expected.count != 0
    checks = planned_gpu(node)
    if gpu.status != "ok":
        message = gpu.error or gpu.status
        if gpu.status == "no_tooling" and not expects_gpus:
            present = CheckResult(node.name, PRESENT, Status.OK, f"{message}; inventory expects none")
            return [present] + [
                CheckResult(node.name, check, Status.OK, "no GPUs expected")
                for check in checks
                if check != PRESENT and check not in _READING_CHECKS
            ]
        status = Status.CRITICAL if expects_gpus else Status.UNKNOWN
        return [CheckResult(node.name, PRESENT, status, message)] + [
            CheckResult(node.name, check, Status.UNKNOWN, message) for check in checks if check != PRESENT
        ]

    found = len(gpu.gpus)
    results: list[CheckResult] = []
    if found:
        names = sorted({reading.name for reading in gpu.gpus})
        summary = f"{found} GPU{'s' if found != 1 else ''}: {', '.join(names)} (driver {gpu.driver or '–'})"
        results.append(CheckResult(node.name, PRESENT, Status.OK, summary))
    else:
        status = Status.CRITICAL if expects_gpus else Status.OK
        results.append(CheckResult(node.name, PRESENT, status, "no GPUs found"))

    if expected is not None and expected.count is not None:
        want = expected.count
        status = Status.OK if found == want else Status.CRITICAL
        noun = "GPU" if found == 1 else "GPUs"
        summary = f"{found} {noun} found" + ("" if found == want else f", inventory expects {want}")
        results.append(
            CheckResult(node.name, COUNT, status, summary, perfdata=(Perf("gpu_count", float(found)),))
        )

    if expected is not None and expected.model:
        wrong = [reading for reading in gpu.gpus if expected.model.lower() not in reading.name.lower()]
        if not found:
            results.append(CheckResult(node.name, MODEL, Status.CRITICAL, "no GPUs to match"))
        elif wrong:
            mismatches = ", ".join(f"GPU {reading.index} is {reading.name}" for reading in wrong)
            summary = f"{mismatches}; inventory expects {expected.model!r}"
            results.append(CheckResult(node.name, MODEL, Status.CRITICAL, summary))
        else:
            summary = f"all {found} match {expected.model!r}"
            results.append(CheckResult(node.name, MODEL, Status.OK, summary))

    if expected is not None and expected.driver:
        results.append(_driver(node, gpu.gpus, expected.driver))
    results.append(_temperature(node, gpu))
    results.append(_ecc(node, gpu.gpus))
    if node.power_budget_w is not None:
        results.append(_power(node, gpu.gpus, node.power_budget_w))
    return results


def driver_matches(version: str, pin: str) -> bool:
    """`590` pins 590.x (590.48.01), `580.159` pins 580.159.x; `5900.1` is not a 590."""
    pin = pin.strip().rstrip(".")
    return version == pin or version.startswith(pin + ".")


def _driver(node: Node, readings: Sequence[GpuReading], pin: str) -> CheckResult:
    def result(status: Status, summary: str) -> CheckResult:
        return CheckResult(node.name, DRIVER, status, summary)

    if not readings:
        return result(Status.UNKNOWN, f"no GPUs to read the driver from (inventory pins {pin})")
    versions = sorted({reading.driver for reading in readings if reading.driver})
    if not versions:
        return result(Status.UNKNOWN, f"no GPU reports its driver version (inventory pins {pin})")
    wrong = [version for version in versions if not driver_matches(version, pin)]
    if wrong:
        return result(Status.CRITICAL, f"{', '.join(wrong)}, inventory pins {pin}")
    return result(Status.OK, f"{', '.join(versions)} (pinned {pin})")


def _temperature(node: Node, gpu: GpuSnapshot) -> CheckResult:
    limits = node.thresholds.gpu_temperature
    # NaN never compares (max() with one returns whatever came first): a non-finite reading is unknown.
    temps = [(reading, temp) for reading in gpu.gpus if (temp := finite(reading.temperature_c)) is not None]
    if not temps:
        summary = "no GPU reports a temperature" if gpu.gpus else "no GPUs"
        return CheckResult(node.name, TEMPERATURE, Status.UNKNOWN if gpu.gpus else Status.OK, summary)
    hottest, temp = max(temps, key=lambda pair: pair[1])
    status = at_or_above(temp, limits)
    summary = f"hottest GPU {hottest.index} at {temp:g} °C (warn {limits.warn:g}, crit {limits.crit:g})"
    silent = len(gpu.gpus) - len(temps)
    if silent:
        summary += f"; {counted(silent, 'GPU')} without a readable temperature"
    perfdata = tuple(
        Perf(f"gpu{reading.index}_temp", value, "", limits.warn, limits.crit) for reading, value in temps
    )
    return CheckResult(node.name, TEMPERATURE, status, summary, perfdata=perfdata)


def _ecc(node: Node, readings: Sequence[GpuReading]) -> CheckResult:
    if not readings:
        return CheckResult(node.name, ECC, Status.OK, "no GPUs")
    reporting = [reading for reading in readings if finite(reading.ecc_uncorrected) is not None]
    if not reporting:
        return CheckResult(node.name, ECC, Status.OK, "ECC not reported")
    perfdata = tuple(
        Perf(f"gpu{reading.index}_ecc_uncorrected", float(reading.ecc_uncorrected or 0))
        for reading in reporting
    )
    silent = len(readings) - len(reporting)
    unreported = f"; {silent} GPU{'s' if silent != 1 else ''} without ECC reporting" if silent else ""
    bad = [reading for reading in reporting if errors_level(reading.ecc_uncorrected) is Status.CRITICAL]
    if bad:
        errors = ", ".join(f"GPU {reading.index} ({reading.ecc_uncorrected})" for reading in bad)
        summary = f"uncorrected ECC errors on {errors}{unreported}"
        fix = (
            "drain the node's jobs, then reset the GPU (nvidia-smi -r) or reboot; replace it if errors return"
        )
        return CheckResult(node.name, ECC, Status.CRITICAL, summary, fix=fix, perfdata=perfdata)
    count = len(reporting)
    summary = f"no uncorrected ECC errors on {count} GPU{'s' if count != 1 else ''}{unreported}"
    return CheckResult(node.name, ECC, Status.OK, summary, perfdata=perfdata)


def _power(node: Node, readings: Sequence[GpuReading], budget: float) -> CheckResult:
    drawing = [reading for reading in readings if finite(reading.power_draw_w) is not None]
    if not drawing:
        summary = "no GPU reports its power draw" if readings else "no GPUs"
        return CheckResult(node.name, POWER, Status.UNKNOWN if readings else Status.OK, summary)
    total = sum(finite(reading.power_draw_w) or 0.0 for reading in drawing)
    warn = budget * POWER_WARN_FRACTION
    if total > budget:
        status = Status.CRITICAL
    elif total > warn:
        status = Status.WARNING
    else:
        status = Status.OK
    share = f" ({total / budget:.0%})" if budget > 0 else ""
    draw = "draws" if len(drawing) == 1 else "draw"
    summary = f"{counted(len(drawing), 'GPU')} {draw} {total:.1f} W of a {budget:g} W budget{share}"
    silent = len(readings) - len(drawing)
    if silent:
        summary += (
            f"; {silent} more do{'es' if silent == 1 else ''} not report power, so this is a lower bound"
        )
    perfdata = (Perf("gpu_power_w", round(total, 2), "", round(warn, 2), budget),)
    return CheckResult(node.name, POWER, status, summary, perfdata=perfdata)
