"""A real headless Chromium (Debian's chromium-headless-shell) looking at a page as the Argo UI
serves an artifact: from a loopback server sending Argo's Content-Security-Policy (sandbox,
so no script runs; nothing loads from elsewhere), with every other host unresolvable. What
the page asked the server for and what the browser refused are recorded."""

from __future__ import annotations

import functools
import http.server
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BINARY = shutil.which("chromium-headless-shell") or shutil.which("chromium")
# server/artifacts/artifact_server.go, setSecurityHeaders (v3.7 to v4.1; v3.5/v3.6 lack
# allow-same-origin, which only matters for cookies)
ARGO_CSP = (
    "sandbox allow-same-origin; base-uri 'none'; default-src 'none'; img-src 'self'; "
    "style-src 'self' 'unsafe-inline'"
)
WIDTH = 1280


@dataclass
class Browser:
    """One folder served on loopback, and Chromium pointed at its files."""

    root: Path
    port: int
    requests: list[str] = field(default_factory=list)

    def _run(self, name: str, *flags: str, height: int = 1000) -> subprocess.CompletedProcess[str]:
        assert BINARY
        argv = [
            BINARY, "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
            "--no-proxy-server", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            "--enable-logging=stderr", "--v=0", f"--window-size={WIDTH},{height}",
            *flags, f"http://127.0.0.1:{self.port}/{name}",
        ]  # fmt: skip
        return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=True)

    def dom(self, name: str) -> tuple[str, list[str]]:
        """The page's DOM after loading, and what the browser's console said."""
        done = self._run(name, "--dump-dom")
        console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
        return done.stdout, console

    def screenshot(self, name: str, out: Path, height: int) -> Path:
        self._run(name, f"--screenshot={out}", height=height)
        return out


@contextmanager
def serve(root: Path) -> Iterator[Browser]:
    """`root` over HTTP on a free loopback port, each response carrying Argo's policy."""
    browser: Browser

    class Handler(http.server.SimpleHTTPRequestHandler):
        def end_headers(self) -> None:
            self.send_header("Content-Security-Policy", ARGO_CSP)
            super().end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            browser.requests.append(self.path)

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(root))
    )
    browser = Browser(root, server.server_port)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield browser
    finally:
        server.shutdown()
        server.server_close()
