"""A real HTTP server on 127.0.0.1 answering JSON POSTs with whatever a test's `respond`
returns; it records every request. Used by the HTTP source driver tests."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Request:
    path: str
    headers: dict[str, str]  # names in lower case
    body: Any


# (status, JSON payload or raw bytes) or (status, payload, extra response headers)
Reply = tuple[int, Any] | tuple[int, Any, dict[str, str]]


@dataclass
class JsonServer:
    url: str = ""  # http://127.0.0.1:<port>
    requests: list[Request] = field(default_factory=list)
    respond: Callable[[Request], Reply] = lambda request: (200, {})


@contextmanager
def serve_json() -> Iterator[JsonServer]:
    state = JsonServer()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {name.lower(): value for name, value in self.headers.items()}
            request = Request(self.path, headers, json.loads(raw or b"null"))
            state.requests.append(request)
            status, payload, *rest = state.respond(request)
            extra = rest[0] if rest else {}
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            self.send_response(status)
            for name, value in {"Content-Type": "application/json", **extra}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:  # keep the test output quiet
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    # A short poll interval makes shutdown() return at once instead of after 0.5 s.
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()
