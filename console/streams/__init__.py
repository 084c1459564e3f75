"""Long-lived per-node data sources: the GPU stream (with pmon), Docker events, node basics, and the snapshot
source that keeps them (source.py).

Each keeps the latest snapshot of its kind for one node, restarts itself when its remote end goes away, and
is read without a round trip: a warm refresh spawns no process on the node for GPU or container data. A
section declares its stream (console/sections/stream.py); `*_section.py` here adapt a stream to that
interface, and StreamingSource opens them from the registry.
"""

from console.streams.basics_shell import BasicsStream
from console.streams.docker_events import DockerWatcher
from console.streams.gpu_stream import GpuStream, gpu_stream_command

__all__ = ["BasicsStream", "DockerWatcher", "GpuStream", "gpu_stream_command"]
