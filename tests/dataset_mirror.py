"""A dataset mirror on 127.0.0.1, for the download tests: the real network is never used.

``Mirror`` serves a dict of files over HTTP from a ``ThreadingHTTPServer`` on a free port,
and can misbehave per file the ways real mirrors do: drop the connection mid-body, serve
a corrupted copy, answer 404, or trickle the bytes out slowly (so a cancel lands mid-file).
"""

from __future__ import annotations

import hashlib
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

MNIST_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
SLOW_CHUNK = 1024  # bytes per write when trickling
SLOW_PAUSE_S = 0.01  # between writes: about 100 kB/s


def md5_of(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        name = self.path.lstrip("/")
        mirror = self.server.mirror
        mirror.requests.append(name)
        mode = mirror.modes.get(name, "ok")
        data = mirror.files.get(name)
        if data is None or mode == "404":
            self.send_error(404, "Not Found")
            return
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if mode == "drop":  # promise the whole file, send half, hang up
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
            elif mode == "corrupt":  # the right length, one byte wrong
                middle = len(data) // 2
                self.wfile.write(data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :])
            elif mode == "slow":
                for start in range(0, len(data), SLOW_CHUNK):
                    if mirror.stopping.is_set():
                        return
                    self.wfile.write(data[start : start + SLOW_CHUNK])
                    self.wfile.flush()
                    time.sleep(SLOW_PAUSE_S)
            else:
                self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client went away (a cancel): fine
            mirror.hung_up.append(name)

    def log_message(self, format, *args) -> None:  # noqa: A002 - keep test output clean
        pass


class _Server(ThreadingHTTPServer):
    mirror: Mirror

    def handle_error(self, request, client_address) -> None:
        pass  # a client that hung up mid-response is part of the tests


class Mirror:
    """Serve ``files`` (name -> bytes) at ``url``; ``modes[name]`` makes one file misbehave."""

    def __init__(self, files: dict[str, bytes]):
        self.files = dict(files)
        self.modes: dict[str, str] = {}
        self.requests: list[str] = []
        self.hung_up: list[str] = []
        self.stopping = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.mirror = self
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/"
        self._thread = threading.Thread(target=self._server.serve_forever, name="test-mirror", daemon=True)
        self._thread.start()

    def md5s(self) -> list[tuple[str, str]]:
        """``(name, md5)`` of every file, in the shape of torchvision's ``MNIST.resources``."""
        return [(name, md5_of(data)) for name, data in self.files.items()]

    def close(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens: connecting is refused, as with no network."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def mnist_files(folder: Path) -> dict[str, bytes]:
    """The four MNIST ``.gz`` files of the committed subset, by name."""
    return {name: (folder / name).read_bytes() for name in MNIST_FILES}


def point_mnist_at(monkeypatch, mirror: Mirror, *mirrors: str, kind: str = "MNIST") -> None:
    """torchvision's ``MNIST`` (or ``FashionMNIST``) metadata, pointed at ``mirrors`` (default
    ``mirror``) and expecting the served files' own md5s (they are not the full MNIST)."""
    from torchvision import datasets

    cls = getattr(datasets, kind)
    monkeypatch.setattr(cls, "mirrors", list(mirrors) or [mirror.url])
    monkeypatch.setattr(cls, "resources", mirror.md5s())
