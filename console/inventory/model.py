"""The inventory's typed, frozen models: they live on the model floor (`console/model/inventory.py`) and stay
importable from here."""

from __future__ import annotations

from console.model.inventory import DISCOVERED_GROUP as DISCOVERED_GROUP
from console.model.inventory import AiStackSettings as AiStackSettings
from console.model.inventory import BmcSettings as BmcSettings
from console.model.inventory import DockerSettings as DockerSettings
from console.model.inventory import FleetSettings as FleetSettings
from console.model.inventory import GpuExpectation as GpuExpectation
from console.model.inventory import GpuSourceKind as GpuSourceKind
from console.model.inventory import HostKeyPolicy as HostKeyPolicy
from console.model.inventory import HttpProbe as HttpProbe
from console.model.inventory import HttpScheme as HttpScheme
from console.model.inventory import Inventory as Inventory
from console.model.inventory import MonitoringSettings as MonitoringSettings
from console.model.inventory import MountMode as MountMode
from console.model.inventory import MountSpec as MountSpec
from console.model.inventory import Node as Node
from console.model.inventory import PduSpec as PduSpec
from console.model.inventory import PrometheusSettings as PrometheusSettings
from console.model.inventory import RackSpec as RackSpec
from console.model.inventory import ServiceSpec as ServiceSpec
from console.model.inventory import SnmpV3 as SnmpV3
from console.model.inventory import SshdPolicy as SshdPolicy
from console.model.inventory import SSHSettings as SSHSettings
from console.model.inventory import StorageSpec as StorageSpec
from console.model.inventory import Threshold as Threshold
from console.model.inventory import Thresholds as Thresholds
from console.model.inventory import TransportKind as TransportKind
from console.model.slurm import SlurmSettings as SlurmSettings
