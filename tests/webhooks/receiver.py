"""A webhook receiver on loopback: a real HTTP server in a thread that records every
request and answers with the statuses it was told to (then 200)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int  # what the receiver answered
    at: float

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    port: int = 0
    requests: list[Received] = field(default_factory=list)
    # Per path: statuses to answer first, in order; afterwards 200.
    plan: dict[str, list[int]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def at(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.requests if r.path == path]

    def delivered(self, path: str) -> list[Received]:
        return [r for r in self.at(path) if 200 <= r.status < 300]

    def wait(self, path: str, count: int, timeout: float = 20.0, ok: bool = True) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.delivered(path) if ok else self.at(path)
            if len(got) >= count:
                return got
            time.sleep(0.02)
        raise AssertionError(f"{path}: {len(got)} of {count} requests after {timeout}s")


def verified(secret: str, received: Received) -> Any:
    """The payload, if the Standard Webhooks signature holds (raises otherwise)."""
    return Webhook(secret).verify(received.body, received.headers)


class Server(ThreadingHTTPServer):
    # The default backlog (5) overflows under a dispatcher's concurrent requests: the
    # kernel drops SYNs, and the client retries only after a second.
    request_queue_size = 256
    daemon_threads = True


@contextmanager
def receiver_running() -> Iterator[Receiver]:
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            with receiver.lock:
                planned = receiver.plan.get(self.path, [])
                status = planned.pop(0) if planned else 200
                receiver.requests.append(
                    Received(self.path, dict(self.headers.items()), body, status, time.time())
                )
            self.send_response(status)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = Server(("127.0.0.1", 0), Handler)
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
