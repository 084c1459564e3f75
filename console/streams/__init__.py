"""Long-lived per-node data sources: the GPU stream, Docker events, node basics (see streams/source.py).

Each keeps the latest snapshot of its kind for one node, restarts itself when its remote end goes away, and
is read without a round trip: a warm refresh spawns no process on the node for GPU or container data.
"""

from console.streams.basics_shell import BasicsStream
from console.streams.docker_events import DockerWatcher
from console.streams.gpu_stream import GpuStream, gpu_stream_command

__all__ = ["BasicsStream", "DockerWatcher", "GpuStream", "gpu_stream_command"]
