"""The AI stack's settings as a node's inventory leaves them, completed from the rest of its inventory.

The settings type (paths, images, ports and the compose project, with the procedure's defaults) lives on the
model floor, `console/model/inventory.py`, since the inventory embeds it; it stays importable from here. Sites
that mirror images privately or run air-gapped override the images; tests point the storage roots and the
project directory at a temp root.
"""

from __future__ import annotations

from dataclasses import replace

# The settings type and the stack's constants live on the model floor (the inventory embeds them).
from console.model.inventory import COMFY_CONTAINER_PORT as COMFY_CONTAINER_PORT
from console.model.inventory import COMPOSE_FILE as COMPOSE_FILE
from console.model.inventory import CONTAINERS as CONTAINERS
from console.model.inventory import DEFAULT_PORTS as DEFAULT_PORTS
from console.model.inventory import OLLAMA_CONTAINER_PORT as OLLAMA_CONTAINER_PORT
from console.model.inventory import OPENWEBUI_CONTAINER_PORT as OPENWEBUI_CONTAINER_PORT
from console.model.inventory import AiStackSettings as AiStackSettings


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
