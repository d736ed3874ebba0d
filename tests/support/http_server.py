"""A loopback HTTP server with Range support that counts the bytes it serves (test support only)."""

from __future__ import annotations

import re
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

_RANGE = re.compile(r"bytes=(\d+)-(\d*)")


@dataclass
class ServedBytes:
    """Body bytes and requests of ``GET`` responses since the last reset (thread-safe)."""

    bytes: int = 0
    requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, n: int) -> None:
        with self.lock:
            self.bytes += n
            self.requests += 1

    def reset(self) -> None:
        with self.lock:
            self.bytes = self.requests = 0


class _RangeHandler(SimpleHTTPRequestHandler):
    counter: ServedBytes

    def __init__(self, *args, counter: ServedBytes, **kwargs):
        self.counter = counter
        super().__init__(*args, **kwargs)

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        match = _RANGE.fullmatch(self.headers.get("Range", "").strip())
        if match:
            start = int(match.group(1))
            end = min(int(match.group(2)) if match.group(2) else len(data) - 1, len(data) - 1)
            body = data[start:end + 1]
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        else:
            body = data
            self.send_response(200)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(len(body)))
        self.counter.add(len(body))  # before the client can see a byte: its reads then see the count
        self.end_headers()
        self.wfile.write(body)

    def do_HEAD(self) -> None:
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(path.stat().st_size))
        self.end_headers()


@contextmanager
def serve_directory(root: Path):
    """Serve ``root`` on 127.0.0.1 (a free port); yields (base_url, counter)."""
    counter = ServedBytes()
    handler = partial(_RangeHandler, directory=str(root), counter=counter)
    with serving(ThreadingHTTPServer(("127.0.0.1", 0), handler)) as base:
        yield base, counter


@contextmanager
def serving(server):
    """Run a bound ``socketserver`` server in a daemon thread; yields its ``http://`` base URL."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
