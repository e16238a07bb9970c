"""Run the app in a subprocess and drive it with a real, offline browser.

Used by the browser tests (tests/test_viz_browser.py) and the screenshot
script (docs/make_screenshots.py). The browser is Debian's chromium
(``apt-get install chromium``) driven by Playwright from PyPI; every request
to a host other than 127.0.0.1 or localhost is aborted, so a page that needs
the internet fails (blocked requests are listed in :attr:`Browser.blocked`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

APP_MODULE = "channel_agents.viz.app"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def solara_command(host: str, port: int, module: str = APP_MODULE) -> list[str]:
    """The command that serves the app (``python -m solara run MODULE``), production mode."""
    return [sys.executable, "-m", "solara", "run", module, "--host", host, "--port", str(port),
            "--production", "--no-open"]  # fmt: skip


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log: Path

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


@contextlib.contextmanager
def serve(
    env: dict[str, str] | None = None, *, timeout: float = 60.0, cwd: str | Path | None = None
) -> Iterator[Server]:
    """Start ``solara run`` on a free localhost port; stop it (its process only) on exit."""
    port = free_port()
    log = Path(tempfile.mkstemp(prefix="solara-", suffix=".log")[1])
    full_env = {**os.environ, **(env or {})}
    with open(log, "w", encoding="utf-8") as out:
        proc = subprocess.Popen(
            solara_command("127.0.0.1", port), stdout=out, stderr=subprocess.STDOUT,
            env=full_env, cwd=cwd,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    server = Server(url, proc, log)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"solara exited with {proc.returncode}:\n{server.output()}")
            try:
                with urllib.request.urlopen(url, timeout=2):
                    break
            except OSError as exc:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"solara did not start in {timeout} s:\n{server.output()}"
                    ) from exc
                time.sleep(0.2)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.unlink(missing_ok=True)


@dataclass
class Browser:
    """A headless chromium (Playwright) that may talk to localhost only."""

    playwright: Any
    context: Any
    profile: str
    blocked: list[str] = field(default_factory=list)

    def new_page(self, width: int = 1500, height: int = 1000) -> Any:
        page = self.context.new_page()
        page.set_viewport_size({"width": width, "height": height})
        page.route("**/*", self._route)
        return page

    def _route(self, route: Any) -> None:
        host = urlparse(route.request.url).hostname or ""
        if host in LOCAL_HOSTS:
            route.continue_()
        else:
            self.blocked.append(route.request.url)
            route.abort()


def chromium_available() -> bool:
    return Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)


@contextlib.contextmanager
def offline_browser() -> Iterator[Browser]:
    """Debian's headless chromium with a fresh profile; requests off localhost are aborted."""
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        browser = Browser(p, context, profile)
        context.route("**/*", browser._route)
        try:
            yield browser
        finally:
            context.close()
            shutil.rmtree(profile, ignore_errors=True)


CHART = ".vega-embed svg, .vega-embed canvas"


def wait_for_chart(page: Any, timeout: float = 60_000) -> None:
    """Wait until at least one chart has been drawn (a blank page fails here)."""
    page.wait_for_selector(CHART, timeout=timeout)


def wait_for_text(page: Any, text: str, timeout: float = 30_000) -> None:
    page.get_by_text(text, exact=False).first.wait_for(timeout=timeout)
