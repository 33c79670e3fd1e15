"""Headless Chromium for tests, driven over the DevTools protocol on a pipe (no driver, no extra package).

``--remote-debugging-pipe`` makes Chromium read protocol commands from fd 3 and write replies and events to
fd 4, each a JSON text ended by a NUL byte. `open_page` loads one file and gathers what the page did: console
messages, uncaught exceptions, log entries (failed loads among them) and every request it made.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The flags that work on this kind of machine (no GPU, a closed network, run as root): see the README.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--remote-debugging-pipe",
)
TIMEOUT_S = 60.0


def find_chromium() -> str | None:
    """Debian's chromium (GAINSTAGER_CHROMIUM names another binary), or None."""
    explicit = os.environ.get("GAINSTAGER_CHROMIUM")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    return next((p for name in ("chromium", "chromium-browser") if (p := shutil.which(name))), None)


class ProtocolError(RuntimeError):
    pass


class Browser:
    def __init__(self, exe: str, profile: Path) -> None:
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        def wire() -> None:  # in the child: the pipe ends where Chromium expects them
            # Copies at 10 or above first, so that dup2 to 3 and 4 is a real copy (which clears close-on-exec).
            a = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD, 10)
            b = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [exe, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=wire,  # the test process has no other threads
            close_fds=False,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> dict[str, Any]:
        """Send one command and wait for its reply; events that arrive meanwhile are kept in `events`."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._receive(time.monotonic() + TIMEOUT_S)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise ProtocolError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result
            self.events.append(reply)

    def wait_for(self, method: str, session: str | None = None) -> dict[str, Any]:
        deadline = time.monotonic() + TIMEOUT_S
        seen = 0
        while True:
            for e in self.events[seen:]:
                if e.get("method") == method and (session is None or e.get("sessionId") == session):
                    return e
            seen = len(self.events)
            self.events.append(self._receive(deadline))

    def _receive(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self._from_browser], [], [], max(left, 0.0))
            if not ready:
                raise ProtocolError(f"no answer from Chromium within {TIMEOUT_S:g} s")
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                raise ProtocolError(f"Chromium closed the pipe (exit {self.proc.poll()}): {err[-2000:]}")
            self._buffer += chunk
        text, self._buffer = self._buffer.split(b"\0", 1)
        message: dict[str, Any] = json.loads(text)
        return message

    def close(self) -> None:
        with suppress(ProtocolError, OSError):
            self.send("Browser.close")
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        finally:
            os.close(self._to_browser)
            os.close(self._from_browser)
            if self.proc.stderr:
                self.proc.stderr.close()


@dataclass
class Page:
    browser: Browser
    session: str
    console: list[str] = field(default_factory=list)  # console errors and warnings, uncaught exceptions, log errors
    requests: list[str] = field(default_factory=list)  # every URL the page asked for

    def evaluate(self, expression: str) -> Any:
        reply = self.browser.send("Runtime.evaluate", {"expression": expression, "returnByValue": True}, self.session)
        if "exceptionDetails" in reply:
            raise ProtocolError(f"{expression}: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    def screenshot(self, path: Path, *, media: str = "screen") -> tuple[int, int]:
        """A PNG of the whole page (not only the viewport) as it shows on `media`; returns its CSS size."""
        self.browser.send("Emulation.setEmulatedMedia", {"media": media}, self.session)
        size = self.browser.send("Page.getLayoutMetrics", {}, self.session)["cssContentSize"]
        width, height = int(size["width"]), int(size["height"])
        clip = {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}
        shot = self.browser.send(
            "Page.captureScreenshot", {"format": "png", "clip": clip, "captureBeyondViewport": True}, self.session
        )
        path.write_bytes(base64.b64decode(shot["data"]))
        return width, height

    def collect(self) -> None:
        """Move what the page reported so far into `console` and `requests`."""
        for e in self.browser.events:
            if e.get("sessionId") != self.session:
                continue
            p = e.get("params", {})
            method = e.get("method")
            if method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "warning", "assert"):
                self.console.append(" ".join(str(a.get("value", a.get("description", ""))) for a in p["args"]))
            elif method == "Runtime.exceptionThrown":
                details = p["exceptionDetails"]
                self.console.append(f"{details.get('text')} {details.get('exception', {}).get('description', '')}")
            elif method == "Log.entryAdded" and p["entry"].get("level") in ("error", "warning"):
                self.console.append(str(p["entry"].get("text")))
            elif method == "Network.requestWillBeSent":
                self.requests.append(str(p["request"]["url"]))
        self.browser.events.clear()


@contextmanager
def open_page(exe: str, profile: Path, url: str, *, width: int = 1366, height: int = 900) -> Iterator[Page]:
    """Load `url` in a fresh headless Chromium with a `width` x `height` CSS-pixel window at 100 % zoom."""
    browser = Browser(exe, profile)
    try:
        target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            browser.send(f"{domain}.enable", {}, session)
        browser.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            session,
        )
        browser.events.clear()
        browser.send("Page.navigate", {"url": url}, session)
        browser.wait_for("Page.loadEventFired", session)
        page = Page(browser, session)
        page.collect()
        yield page
    finally:
        browser.close()
