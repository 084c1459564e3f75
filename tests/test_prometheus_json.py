"""What a Prometheus (or what answers in its place) sends that is not JSON we can use: a real HTTP server.

json.loads raises RecursionError, not ValueError, on deep nesting: `"[" * 200000` made every Prometheus
check "internal error reading Prometheus: RecursionError".
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from console.collectors.prometheus import (
    PrometheusClient,
    PrometheusError,
    collect_prometheus,
    decode_json,
)
from console.inventory.model import PrometheusSettings


class FixedAnswer:
    """An HTTP server on 127.0.0.1 that answers every GET with `body` (and `status`)."""

    def __init__(self) -> None:
        self.body = b""
        self.status = 200
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(owner.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(owner.body)))
                self.end_headers()
                self.wfile.write(owner.body)

            def log_message(self, *args: object) -> None:  # silent when well
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        # shutdown() waits up to one poll interval (0.5 s by default) on every test's teardown
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=2)


@pytest.fixture
def answer() -> Iterator[FixedAnswer]:
    server = FixedAnswer()
    try:
        yield server
    finally:
        server.close()


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def targets_with_job(job: str) -> bytes:
    target = f'{{"labels": {{"job": {job}, "instance": "gpu1:9400"}}, "health": "up"}}'
    return f'{{"status": "success", "data": {{"activeTargets": [{target}]}}}}'.encode()


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 200_000,
        b'{"status": "success", "data": {"activeTargets": ' + b"[" * 200_000,
        b'{"status": "success", "data": {"activeTargets": [{"labels": ' + b'{"a": ' * 100_000,
        b'{"status": "success", "data": \xff}',
    ],
    ids=["200000-brackets", "deep-in-the-envelope", "deep-objects", "not-utf8"],
)
async def test_an_answer_that_is_not_usable_json_is_reported_as_such(
    answer: FixedAnswer, body: bytes
) -> None:
    answer.body = body
    with PrometheusClient(answer.url, timeout=5) as prom, pytest.raises(PrometheusError) as caught:
        await prom.targets()
    assert str(caught.value) == f"Prometheus at {answer.url} sent something that is not JSON"
    snapshot = await collect_prometheus(PrometheusSettings(answer.url, timeout=5))
    assert snapshot.error == f"Prometheus at {answer.url} sent something that is not JSON"


async def test_a_deep_error_page_is_reported_by_its_status(answer: FixedAnswer) -> None:
    answer.status, answer.body = 502, b"[" * 200_000
    with PrometheusClient(answer.url, timeout=5) as prom, pytest.raises(PrometheusError) as caught:
        await prom.alerts()
    assert str(caught.value).startswith(f"Prometheus at {answer.url} answered HTTP 502: [[[[")


async def test_an_answer_nested_as_deep_as_json_allows_is_still_read(answer: FixedAnswer) -> None:
    # Decodable depth stays a label's text, shown cleaned, never an error of ours.
    answer.body = targets_with_job(nested(500))
    with PrometheusClient(answer.url, timeout=5) as prom:
        (target,) = await prom.targets()
    assert target.job.startswith("[[[[")
    assert target.health == "up"


def test_decode_json() -> None:
    assert decode_json(b'{"a": [1]}') == {"a": [1]}
    assert decode_json(b"[" * 200_000) is None
    assert decode_json('{"a": 1}'.encode("utf-16")) is None  # Prometheus speaks UTF-8
