"""The AI stack's settings: paths, images, ports and the compose project, with the procedure's defaults.

A frozen dataclass of plain fields, so the inventory loader can read it as an optional section (`ai_stack:` on
defaults, a group or a node) the way it reads every other section. Sites that mirror images privately or run
air-gapped override the images; tests point the storage roots and the project directory at a temp root.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, replace

COMPOSE_FILE = "docker-compose.yml"
CONTAINERS = ("comfy", "ollama", "openwebui")  # container (and compose service) names
# What the images listen on inside their containers: facts of the images, not settings.
DEFAULT_PORTS = {"comfy": 8188, "ollama": 11434, "openwebui": 3000}  # the procedure's host ports
COMFY_CONTAINER_PORT = 8188
OLLAMA_CONTAINER_PORT = 11434
OPENWEBUI_CONTAINER_PORT = 8080


@dataclass(frozen=True, slots=True)
class AiStackSettings:
    nvme_root: str = "/mnt/local/nvme/ai"  # local, non-authoritative: cache, models, services
    ssd_root: str = "/mnt/local/ssd/ai"  # outputs and projects
    project_dir: str = "/opt/ai-stack"  # where docker-compose.yml lives; its name is the compose project
    comfy_image: str = "mmartial/comfyui-nvidia-docker:latest"
    ollama_image: str = "ollama/ollama:latest"
    openwebui_image: str = "ghcr.io/open-webui/open-webui:main"
    # Host ports, all published on 127.0.0.1 only. None: the node's `services` entry for the container, else
    # the procedure's default (DEFAULT_PORTS); `stack_settings(node)` fills them in.
    comfy_port: int | None = None
    ollama_port: int | None = None
    openwebui_port: int | None = None
    comfy_uid: int = 1024  # the ComfyUI image refuses to start unless it runs as, and /comfy/mnt is, this
    comfy_gid: int = 1024
    comfy_mode: str = "775"
    # The NVIDIA driver branch (or version prefix) the node must run; None: the inventory's `gpus.driver`
    # pin, and when nothing is pinned any driver that sees the GPUs will do.
    driver_major: str | None = None
    gpu_access: bool = True  # reserve the node's GPUs for comfy and ollama in compose
    first_run_timeout: float = 1800.0  # ComfyUI's first start (clone, venv, wheels): 10-20 min
    poll_interval: float = 5.0  # how often the first-run wait looks at logs and HTTP

    # --- derived paths ---------------------------------------------------------------------------------

    @property
    def comfy_mnt(self) -> str:
        return posixpath.join(self.nvme_root, "services", "comfy-mnt")

    @property
    def models_dir(self) -> str:
        return posixpath.join(self.nvme_root, "models")

    @property
    def ollama_dir(self) -> str:
        return posixpath.join(self.nvme_root, "services", "ollama")

    @property
    def cache_dir(self) -> str:
        return posixpath.join(self.nvme_root, "cache")

    @property
    def outputs_dir(self) -> str:
        return posixpath.join(self.ssd_root, "outputs", "comfy")

    @property
    def openwebui_dir(self) -> str:
        return posixpath.join(self.ssd_root, "projects", "openwebui")

    @property
    def directories(self) -> tuple[str, ...]:
        """The storage layout, in the procedure's order."""
        return (
            self.cache_dir,
            self.models_dir,
            self.comfy_mnt,
            self.ollama_dir,
            self.outputs_dir,
            self.openwebui_dir,
        )

    @property
    def compose_path(self) -> str:
        return posixpath.join(self.project_dir, COMPOSE_FILE)

    @property
    def project_name(self) -> str:
        """Compose's project name for project_dir (its rule: lowercase letters, digits, '-' and '_')."""
        name = re.sub(r"[^a-z0-9_-]", "", posixpath.basename(self.project_dir.rstrip("/")).lower())
        return name or "ai-stack"

    @property
    def owner(self) -> str:
        return f"{self.comfy_uid}:{self.comfy_gid}"

    def host_port(self, container: str) -> int:
        """The port on the node's 127.0.0.1 where a container of the stack is published."""
        port = {"comfy": self.comfy_port, "ollama": self.ollama_port, "openwebui": self.openwebui_port}[
            container
        ]
        return DEFAULT_PORTS[container] if port is None else port


def stack_settings(node: object) -> AiStackSettings:
    """The node's `ai_stack` inventory section (the procedure's defaults where it has none), with what the
    rest of the node's inventory already says filled in: a container's port from its `services` entry
    (matched by container, then by name) and the driver from `gpus.driver`. `ai_stack` keys win."""
    found = getattr(node, "ai_stack", None)
    settings = found if isinstance(found, AiStackSettings) else AiStackSettings()
    services = tuple(getattr(node, "services", ()) or ())

    def port(container: str, explicit: int | None) -> int | None:
        if explicit is not None:
            return explicit
        spec = next((s for s in services if getattr(s, "container", None) == container), None) or next(
            (s for s in services if getattr(s, "name", None) == container), None
        )
        return None if spec is None else int(spec.port)

    pinned = getattr(getattr(node, "gpus", None), "driver", None)
    return replace(
        settings,
        comfy_port=port("comfy", settings.comfy_port),
        ollama_port=port("ollama", settings.ollama_port),
        openwebui_port=port("openwebui", settings.openwebui_port),
        driver_major=settings.driver_major or (str(pinned) if pinned else None),
    )
