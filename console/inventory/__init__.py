"""The fleet inventory: typed models, the YAML loader and where to find the file."""

from __future__ import annotations

from .loader import InventoryError, InventoryProblem, load_inventory
from .locate import bundled_inventory, locate_inventory
from .model import (
    GpuExpectation,
    HostKeyPolicy,
    Inventory,
    Node,
    SSHSettings,
    Threshold,
    Thresholds,
    TransportKind,
)

__all__ = [
    "GpuExpectation",
    "HostKeyPolicy",
    "Inventory",
    "InventoryError",
    "InventoryProblem",
    "Node",
    "SSHSettings",
    "Threshold",
    "Thresholds",
    "TransportKind",
    "bundled_inventory",
    "load_inventory",
    "locate_inventory",
]
