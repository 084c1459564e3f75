"""The Docker section's stream: the events watcher's latest container list, re-listed when one is due."""

from __future__ import annotations

from console.model.docker import DockerSnapshot
from console.sections.stream import Poll, StreamContext
from console.streams.docker_events import DockerWatcher


def restarting(docker: DockerSnapshot) -> bool:
    """A container in a restart loop: its next state change may come without an event."""
    return any(container.state == "restarting" for container in docker.containers)


class DockerSectionStream:
    """One node's containers: the watcher's latest list, or a list made now when one is due."""

    def __init__(self, watcher: DockerWatcher) -> None:
        self.watcher = watcher

    def latest(self, poll: Poll) -> DockerSnapshot | None:
        docker = self.watcher.latest
        if docker is None or not self.watcher.running:
            return None
        # Docker sends no event when a restart loop gives up or a restart fails to start: look now.
        return None if poll.force or restarting(docker) else docker

    async def read(self, poll: Poll) -> DockerSnapshot | None:
        """A list begun now (the first one, or a re-list); None: the first did not come in time."""
        if self.watcher.latest is None or not self.watcher.running:
            return await self.watcher.first(poll.wait)
        return await self.watcher.relist_now(poll.wait)

    def kick(self) -> None:
        pass  # the watcher re-subscribes on its own; a re-list cuts its backoff short

    async def close(self) -> None:
        await self.watcher.close()


def open_docker_stream(ctx: StreamContext) -> DockerSectionStream:
    """Any transport: the events come through the forwarded socket, not a process on the node."""
    watcher = DockerWatcher(ctx.transport, ctx.node, safety_every=ctx.source.docker_safety_every)
    return DockerSectionStream(watcher)
