"""A local HTTP mirror of a repository directory that answers every request after a delay, like a
remote mirror would, and counts what was asked for. Used by scripts/bench-fleet and the fleet
tests; run it alone with ``python scripts/latency_mirror.py DIR [--latency-ms 30]``.

It can also misbehave as real mirrors do (scripts/chaos): a ``Fault`` rule answers the first
``count`` requests of each path ending in ``suffix`` with a 503, a connection reset, a body cut
in half, a body with one byte flipped (same length, so only a checksum notices), or a body that
stalls half-way for ``seconds`` before the rest comes (a stall longer than the client waits is
one that never ends). ``sync_to`` is a mirror sync: from the first request of a path ending in
its trigger on, another directory (the repository's next revision) is served.
"""

from __future__ import annotations

import argparse
import collections
import configparser
import functools
import http.server
import socket
import struct
import sys
import threading
import time
from pathlib import Path
from typing import Any

FAULT_KINDS = ("503", "reset", "truncate", "flip", "stall")
STALL_AFTER = 512  # bytes of the body a stall sends first


class Fault:
    """Misanswer the first ``count`` requests of each path ending in ``suffix``."""

    def __init__(self, suffix: str, kind: str, count: int, seconds: float = 0.0) -> None:
        if kind not in FAULT_KINDS:
            raise ValueError(f"fault kind {kind!r} is not one of {', '.join(FAULT_KINDS)}")
        self.suffix, self.kind, self.count = suffix, kind, count
        self.seconds = seconds  # how long a stall lasts
        self.seen: collections.Counter[str] = collections.Counter()
        self.injected = 0

    def applies(self, path: str) -> bool:
        """Whether this request of ``path`` is one to misanswer (counts it)."""
        if not path.split("?", 1)[0].endswith(self.suffix):
            return False
        self.seen[path] += 1
        if self.seen[path] > self.count:
            return False
        self.injected += 1
        return True


class _Handler(http.server.SimpleHTTPRequestHandler):
    server: Mirror

    def do_GET(self) -> None:
        time.sleep(self.server.latency)
        with self.server.lock:
            self.server.requests[self.path] += 1
            fault = next((f for f in self.server.faults if f.applies(self.path)), None)
            sync = self.server.sync
            if sync and self.path.split("?", 1)[0].endswith(sync[0]):
                self.server.directory, self.server.sync = sync[1], None
            self.directory = str(self.server.directory)
        if fault is None:
            super().do_GET()
        elif fault.kind == "503":
            self.send_error(503, "Service Unavailable (injected)")
        elif fault.kind == "reset":
            # SO_LINGER with a zero timeout: close() sends an RST instead of a FIN
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
        else:
            self._damaged(fault)

    def _damaged(self, fault: Fault) -> None:
        kind = fault.kind
        path = Path(self.translate_path(self.path))
        try:
            body = bytearray(path.read_bytes())
        except OSError:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if kind == "flip" and body:
            body[len(body) // 2] ^= 0x01
            self.wfile.write(body)
        elif kind == "stall":
            # a little only: curl judges the speed over its last ~5 s, and a burst of half
            # the body would keep it above dnf's minrate for those seconds
            self.wfile.write(body[:STALL_AFTER])
            self.wfile.flush()
            # ends early when the mirror stops, so a stall outlives no test
            self.server.stopping.wait(fault.seconds)
            self.wfile.write(body[STALL_AFTER:])
        else:  # truncate: half of what Content-Length promised, then the connection ends
            self.wfile.write(body[: len(body) // 2])
        self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        pass


class Mirror(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, directory: Path, latency: float) -> None:
        handler = functools.partial(_Handler, directory=str(directory))
        super().__init__(("127.0.0.1", 0), handler)
        self.latency = latency
        self.lock = threading.Lock()
        self.requests: collections.Counter[str] = collections.Counter()
        self.faults: list[Fault] = []
        self.directory = directory
        self.sync: tuple[str, Path] | None = None
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up mid-body (dnf giving up on a full disk) is no error here."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/"

    def __enter__(self) -> Mirror:
        self.thread.start()
        return self

    def sync_to(self, directory: Path, trigger: str = ".rpm") -> None:
        """Serve ``directory`` from the first request of a path ending in ``trigger`` on."""
        with self.lock:
            self.sync = (trigger, directory)

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.shutdown()
        self.server_close()

    def repo_file(self, path: Path, template: Path) -> Path:
        """``template`` (the served repository's own .repo file) with baseurl set to the mirror."""
        config = configparser.RawConfigParser()
        config.read(template)
        for section in config.sections():
            config.set(section, "baseurl", self.url)
        with path.open("w") as handle:
            config.write(handle)
        return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--latency-ms", type=float, default=30.0)
    args = parser.parse_args()
    with Mirror(args.directory, args.latency_ms / 1000) as mirror:
        print(mirror.url, flush=True)
        mirror.thread.join()


if __name__ == "__main__":
    main()
