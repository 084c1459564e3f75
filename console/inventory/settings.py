"""Each section's inventory settings: the key it reads under a node (and `defaults`, `groups.NAME`), the
type its value converts to, and the checks and normalisations of single values (its parser's rules).

The loader (console/inventory/loader.py) iterates this registry for a node's section keys. The built-in
sections' settings are declared here, on the inventory's floor, because the inventory loads without the
sections (`inventory check`, the wizards); each `Section` names its `SectionSettings`, and registering a
section registers its settings here, as its commands go down into the read-only allow-list: the inventory
never imports the sections above it.

A section whose key is a `Node` field (the built-ins) is built into that field; a plug-in section's key
that is not one is built into `Node.plugins` and read with `node.settings(KEY)`. Either way the value is a
frozen dataclass (with `| None` when absent means "not checked") or a tuple of them, converted by its type
hints as every other inventory value: unknown keys, wrong types, missing required keys and the checks'
messages are reported with their line, all in one pass.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from console.model.hardware import GpuProfile, HardwareProfile, NicProfile
from console.model.inventory import (
    AiStackSettings,
    DockerSettings,
    GpuExpectation,
    HttpProbe,
    MountSpec,
    ServiceSpec,
    SlurmSettings,
    SshdPolicy,
    StorageSpec,
)

from .rules import (
    _OWNER_RE,
    CHECKS,
    NORMALISE,
    Check,
    _absolute,
    _at_least_zero,
    _check_address,
    _check_container,
    _check_driver,
    _check_http_path,
    _check_root_login,
    _octal,
    _port,
    check_path,
    normal_path,
    positive,
)


@dataclass(frozen=True, slots=True)
class SectionSettings:
    """One section's inventory key.

    key: the key under a node (and under `defaults` and `groups.NAME` when `defaultable`).
    hint: the type of its value (`X | None`, or `tuple[X, ...]`, X a frozen dataclass).
    checks, normalise: per (dataclass, field): a check returning a message (None: fine), or a function
      giving the value's one spelling once its check passed. A check on a list field applies to each item.
    """

    key: str
    hint: Any
    checks: Mapping[tuple[type, str], Check] = field(default_factory=dict)
    normalise: Mapping[tuple[type, str], Callable[[Any], Any]] = field(default_factory=dict)
    defaultable: bool = True


SETTINGS: dict[str, SectionSettings] = {}


def register_settings(settings: SectionSettings) -> None:
    """Let nodes (and defaults and groups) set `settings.key`, checked by its rules (registering a key
    again replaces it)."""
    SETTINGS[settings.key] = settings
    CHECKS.update(settings.checks)
    NORMALISE.update(settings.normalise)


def registered_settings() -> tuple[SectionSettings, ...]:
    return tuple(SETTINGS.values())


GPUS = SectionSettings(
    "gpus",
    GpuExpectation | None,
    {(GpuExpectation, "count"): _at_least_zero, (GpuExpectation, "driver"): _check_driver},
)
DOCKER = SectionSettings("docker", DockerSettings | None, {(DockerSettings, "containers"): _check_container})
MOUNTS = SectionSettings(
    "mounts",
    tuple[MountSpec, ...],
    {(MountSpec, "path"): check_path, (MountSpec, "timeout"): positive},
    {(MountSpec, "path"): normal_path},
)
SERVICES = SectionSettings(
    "services",
    tuple[ServiceSpec, ...],
    {
        (ServiceSpec, "port"): _port,
        (ServiceSpec, "container"): _check_container,
        (ServiceSpec, "bind"): _check_address,
        (HttpProbe, "path"): _check_http_path,
        (HttpProbe, "expect"): lambda v: None if 100 <= v <= 599 else "must be an HTTP status (100-599)",
        (HttpProbe, "timeout"): positive,
    },
)
SSHD = SectionSettings("sshd", SshdPolicy | None, {(SshdPolicy, "root_login"): _check_root_login})
STORAGE = SectionSettings(
    "storage",
    tuple[StorageSpec, ...],
    {
        (StorageSpec, "path"): check_path,
        (StorageSpec, "owner"): lambda v: (
            None if _OWNER_RE.fullmatch(v) else "must be numeric uid:gid, e.g. 1024:1024"
        ),
        (StorageSpec, "mode"): _octal,
    },
    {(StorageSpec, "path"): normal_path},
)
AI_STACK = SectionSettings(
    "ai_stack",
    AiStackSettings | None,
    {
        **{(AiStackSettings, f"{name}_port"): _port for name in ("comfy", "ollama", "openwebui")},
        **{(AiStackSettings, name): _absolute for name in ("nvme_root", "ssd_root", "project_dir")},
        (AiStackSettings, "comfy_mode"): _octal,
        (AiStackSettings, "comfy_uid"): _at_least_zero,
        (AiStackSettings, "comfy_gid"): _at_least_zero,
        (AiStackSettings, "first_run_timeout"): positive,
        (AiStackSettings, "poll_interval"): positive,
    },
)

# `slurm: {via: NODE}`; the top-level `slurm:` and the via node's members: console/inventory/slurm.py.
SLURM = SectionSettings("slurm", SlurmSettings | None, {(SlurmSettings, "interval"): _at_least_zero})

# `hardware:` the profile (console/sections/hardware.py); not a Node field: `node.settings("hardware")`.
_IFNAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:@-]{0,14}")  # Linux: at most 15 bytes, no '/' or blanks
HARDWARE = SectionSettings(
    "hardware",
    HardwareProfile | None,
    {
        (HardwareProfile, "cpu_cores"): lambda v: None if v >= 1 else "must be 1 or more",
        (HardwareProfile, "memory_gb"): positive,
        (GpuProfile, "count"): _at_least_zero,
        (GpuProfile, "memory_gb"): positive,
        (NicProfile, "name"): lambda v: (
            None if _IFNAME_RE.fullmatch(v) else "is not a network interface name"
        ),
        (NicProfile, "speed_gbps"): positive,
    },
)

# The built-in sections' keys, in the order docs/inventory.md lists them.
for _settings in (GPUS, DOCKER, MOUNTS, SERVICES, SSHD, STORAGE, AI_STACK, SLURM, HARDWARE):
    register_settings(_settings)
