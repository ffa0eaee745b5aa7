"""A local HTTP mirror of a repository directory that answers every request after a delay, like a
remote mirror would, and counts what was asked for. Used by scripts/bench-fleet and the fleet
tests; run it alone with ``python scripts/latency_mirror.py DIR [--latency-ms 30]``.
"""

from __future__ import annotations

import argparse
import collections
import configparser
import functools
import http.server
import threading
import time
from pathlib import Path
from typing import Any


class _Handler(http.server.SimpleHTTPRequestHandler):
    server: Mirror

    def do_GET(self) -> None:
        time.sleep(self.server.latency)
        with self.server.lock:
            self.server.requests[self.path] += 1
        super().do_GET()

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
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/"

    def __enter__(self) -> Mirror:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
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
