"""Drive Debian's Firefox ESR from a test over WebDriver BiDi, the W3C protocol Firefox speaks natively.

Why a small client of our own: Playwright's own Firefox build cannot be downloaded here, and its
`moz-firefox` (BiDi) channel sends commands newer than Firefox ESR knows
(`emulation.setMediaFeaturesOverride`: "unknown command"); Selenium needs geckodriver, which neither
Debian bookworm nor PyPI ships as a binary. Firefox itself listens for BiDi on a websocket when
started with `--remote-debugging-port`, so a JSON-over-websocket client on aiohttp (already a
dependency) is all it takes: no driver process, and it shares the test's event loop with the server.

    async with Firefox.launch(profile_dir, prefs) as firefox:
        page = await firefox.page(1200, 760)
        await page.goto(url)
        await page.click("#start")
        await page.wait_for("window.livehuman.state === 'listening'")
        await page.screenshot(path)

Clicks and keys go through `input.performActions`: real, trusted input events, as from a user
(they count as user activation for autoplay and permissions).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import re
import shutil
import time
from collections import deque
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

ENTER = "\ue007"  # WebDriver's key code point for Enter
LAUNCH_TIMEOUT_S = 30.0
COMMAND_TIMEOUT_S = 30.0
POLL_S = 0.1

# Nothing in the browser may reach for the network on its own: it only ever talks to the test server.
QUIET_PREFS: dict[str, Any] = {
    "app.normandy.enabled": False,
    "app.normandy.api_url": "",
    "app.update.auto": False,
    "app.update.checkInstallTime": False,
    "app.update.disabledForTesting": True,
    "app.update.enabled": False,
    "browser.aboutwelcome.enabled": False,
    "browser.discovery.enabled": False,
    "browser.newtabpage.enabled": False,
    "browser.newtabpage.activity-stream.feeds.system.topstories": False,
    "browser.newtabpage.activity-stream.showSponsoredTopSites": False,
    "browser.ping-centre.telemetry": False,
    "browser.region.network.url": "",
    "browser.region.update.enabled": False,
    "browser.safebrowsing.blockedURIs.enabled": False,
    "browser.safebrowsing.downloads.enabled": False,
    "browser.safebrowsing.malware.enabled": False,
    "browser.safebrowsing.phishing.enabled": False,
    "browser.safebrowsing.provider.mozilla.updateURL": "",
    "browser.search.geoip.url": "",
    "browser.search.update": False,
    "browser.sessionstore.resume_from_crash": False,
    "browser.shell.checkDefaultBrowser": False,
    "browser.startup.homepage": "about:blank",
    "browser.startup.homepage_override.mstone": "ignore",
    "browser.startup.page": 0,
    "browser.tabs.warnOnClose": False,
    "browser.translations.automaticallyPopup": False,
    "browser.uitour.enabled": False,
    "browser.urlbar.suggest.searches": False,
    "browser.warnOnQuit": False,
    "captivedetect.canonicalURL": "",
    "datareporting.healthreport.uploadEnabled": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "datareporting.policy.dataSubmissionPolicyBypassNotification": True,
    "datareporting.usage.uploadEnabled": False,
    "dom.security.https_first": False,
    "extensions.getAddons.cache.enabled": False,
    "extensions.systemAddon.update.enabled": False,
    "extensions.update.enabled": False,
    "media.gmp-manager.updateEnabled": False,
    "media.sanity-test.disabled": True,
    "media.videocontrols.picture-in-picture.video-toggle.enabled": False,  # browser chrome over the video
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
    "network.dns.disablePrefetch": True,
    "network.http.speculative-parallel-limit": 0,
    "network.prefetch-next": False,
    "network.trr.mode": 5,
    "services.settings.server": "data:,",
    "startup.homepage_welcome_url": "about:blank",
    "startup.homepage_welcome_url.additional": "",
    "toolkit.telemetry.enabled": False,
    "toolkit.telemetry.reportingpolicy.firstRun": False,
    "toolkit.telemetry.server": "",
    "toolkit.telemetry.unified": False,
}

# Firefox hides its host ICE candidates behind random mDNS names (`<uuid>.local`) unless the page
# is capturing from a real device or holds a permission for one; the fake device counts as neither.
# Resolving those names needs Firefox's own mDNS responder, which does not run inside the test's
# namespace, so the tests turn the hiding off: ICE then sees the addresses it would for a user who
# allowed the microphone.
SHOW_HOST_ADDRESSES: dict[str, Any] = {"media.peerconnection.ice.obfuscate_host_addresses": False}

# The fake microphone (a tone), granted without a prompt.
FAKE_MEDIA_PREFS: dict[str, Any] = {
    "media.navigator.streams.fake": True,
    "media.navigator.permission.disabled": True,
    **SHOW_HOST_ADDRESSES,
}

# The user has blocked the microphone for every site (Settings → Permissions → Block new requests).
BLOCKED_MICROPHONE_PREFS: dict[str, Any] = {
    "media.navigator.streams.fake": True,
    "media.navigator.permission.disabled": False,
    "permissions.default.microphone": 2,
    **SHOW_HOST_ADDRESSES,
}


class BiDiError(RuntimeError):
    """A WebDriver BiDi command failed, or the page threw while evaluating a script."""


def firefox_executable() -> str | None:
    """Debian's Firefox ESR on the PATH (or a plain `firefox`), or None."""
    return shutil.which("firefox-esr") or shutil.which("firefox")


def write_profile(directory: Path, prefs: dict[str, Any]) -> Path:
    """A fresh Firefox profile in `directory` whose user.js sets `prefs` over the quiet defaults."""
    directory.mkdir(parents=True, exist_ok=True)
    lines = [f"user_pref({json.dumps(k)}, {json.dumps(v)});" for k, v in {**QUIET_PREFS, **prefs}.items()]
    (directory / "user.js").write_text("\n".join(lines) + "\n")
    return directory


class Firefox:
    """One headless Firefox process and its BiDi session."""

    def __init__(self, process: asyncio.subprocess.Process, http: aiohttp.ClientSession,
                 ws: aiohttp.ClientWebSocketResponse, log: deque[str]) -> None:
        self.process = process
        self._http = http
        self._ws = ws
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future] = {}
        self.js_errors: list[str] = []  # uncaught exceptions in pages, and Firefox's own script-level errors
        self.console: list[str] = []  # console messages, "level: text"
        self.log = log  # the browser's own stderr, last lines
        self._reader = asyncio.create_task(self._read())

    @classmethod
    @contextlib.asynccontextmanager
    async def launch(cls, profile: Path, prefs: dict[str, Any],
                     executable: str | None = None) -> AsyncIterator[Firefox]:
        """Start headless Firefox on a new profile with `prefs`, open a BiDi session; always stop it."""
        executable = executable or firefox_executable()
        if executable is None:
            raise FileNotFoundError("firefox-esr is not installed: run scripts/setup.sh")
        write_profile(profile, prefs)
        env = {**os.environ, "MOZ_CRASHREPORTER_DISABLE": "1", "MOZ_NO_REMOTE": "1"}
        process = await asyncio.create_subprocess_exec(
            executable, "--headless", "--no-remote", "--remote-debugging-port", "0", "--profile", str(profile),
            "about:blank", stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE, env=env)
        log: deque[str] = deque(maxlen=200)
        drain = None
        http = aiohttp.ClientSession()
        browser = None
        try:
            endpoint = await asyncio.wait_for(_listening_endpoint(process, log), LAUNCH_TIMEOUT_S)
            drain = asyncio.create_task(_drain(process, log))
            ws = await http.ws_connect(f"{endpoint}/session", max_msg_size=64 * 2**20)
            browser = cls(process, http, ws, log)
            await browser.send("session.new", {"capabilities": {}})
            await browser.send("session.subscribe", {"events": ["log.entryAdded"]})
            yield browser
        finally:
            if browser is not None:
                await browser._close()
            await http.close()
            if process.returncode is None:
                process.kill()
            await process.wait()
            if drain is not None:
                await drain

    async def send(self, method: str, params: dict[str, Any] | None = None,
                   timeout: float = COMMAND_TIMEOUT_S) -> dict[str, Any]:
        """Send one BiDi command and return its result; BiDiError if the browser says it failed."""
        if self._reader.done():
            raise BiDiError(f"{method}: the connection to Firefox is gone\n" + "\n".join(self.log))
        ident = next(self._ids)
        future = asyncio.get_running_loop().create_future()
        self._pending[ident] = future
        await self._ws.send_str(json.dumps({"id": ident, "method": method, "params": params or {}}))
        try:
            message = await asyncio.wait_for(future, timeout)
        finally:
            self._pending.pop(ident, None)
        if message.get("type") == "error":
            raise BiDiError(f"{method}: {message.get('error')}: {message.get('message')}")
        return message.get("result", {})

    async def page(self, width: int, height: int) -> Page:
        """The browser's first tab, with its viewport set to `width`x`height` CSS pixels."""
        tree = await self.send("browsingContext.getTree", {"maxDepth": 0})
        context = tree["contexts"][0]["context"]
        await self.send("browsingContext.setViewport",
                        {"context": context, "viewport": {"width": width, "height": height}})
        return Page(self, context)

    async def _read(self) -> None:
        async for msg in self._ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            message = json.loads(msg.data)
            if "id" in message and message.get("type") in ("success", "error"):
                future = self._pending.get(message["id"])
                if future is not None and not future.done():
                    future.set_result(message)
            elif message.get("method") == "log.entryAdded":
                entry = message["params"]
                if entry.get("type") == "javascript":
                    self.js_errors.append(entry.get("text", ""))
                else:
                    self.console.append(f"{entry.get('level')}: {entry.get('text', '')}")
        for future in self._pending.values():
            if not future.done():
                future.set_exception(BiDiError("the connection to Firefox closed"))

    async def _close(self) -> None:
        with contextlib.suppress(Exception):
            await self.send("browser.close", timeout=10)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.process.wait(), 10)
        await self._ws.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


class Page:
    """One browsing context (tab): navigate, evaluate, click, type, screenshot."""

    def __init__(self, browser: Firefox, context: str) -> None:
        self.browser = browser
        self.context = context

    async def goto(self, url: str) -> None:
        """Load `url` and wait for its load event."""
        await self.browser.send("browsingContext.navigate", {"context": self.context, "url": url, "wait": "complete"})

    async def evaluate(self, expression: str) -> Any:
        """The JSON value of a JavaScript expression (awaited if it is a promise) in the page."""
        wrapped = f"(async () => JSON.stringify(await ({expression})))()"
        result = await self.browser.send("script.evaluate", {
            "expression": wrapped, "target": {"context": self.context},
            "awaitPromise": True, "resultOwnership": "none"})
        if result.get("type") == "exception":
            details = result.get("exceptionDetails", {})
            raise BiDiError(f"the page threw evaluating {expression!r}: {details.get('text')}")
        value = result["result"]
        return json.loads(value["value"]) if value.get("type") == "string" else None

    async def wait_for(self, expression: str, timeout: float = 30.0) -> Any:
        """Poll `expression` until it is truthy; its value, or TimeoutError saying what it was waiting for."""
        deadline = time.monotonic() + timeout
        while True:
            value = await self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"waited {timeout:.0f} s for {expression!r} in Firefox")
            await asyncio.sleep(POLL_S)

    async def center(self, selector: str) -> tuple[int, int]:
        """The middle of the element `selector` in viewport pixels, scrolled into view first."""
        box = await self.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
            " if (!e) return null; e.scrollIntoView({block: 'center'});"
            " const r = e.getBoundingClientRect(); return {x: r.x + r.width / 2, y: r.y + r.height / 2}; })()")
        if box is None:
            raise BiDiError(f"no element matches {selector!r}")
        return round(box["x"]), round(box["y"])

    async def click(self, selector: str) -> None:
        """A real left click in the middle of the element `selector`."""
        x, y = await self.center(selector)
        await self.browser.send("input.performActions", {"context": self.context, "actions": [{
            "type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"},
            "actions": [{"type": "pointerMove", "x": x, "y": y},
                        {"type": "pointerDown", "button": 0}, {"type": "pointerUp", "button": 0}]}]})

    async def type(self, selector: str, text: str) -> None:
        """Click into `selector` and type `text` key by key (ENTER presses Enter)."""
        await self.click(selector)
        keys = []
        for char in text:
            keys += [{"type": "keyDown", "value": char}, {"type": "keyUp", "value": char}]
        await self.browser.send("input.performActions", {"context": self.context, "actions": [{
            "type": "key", "id": "keyboard", "actions": keys}]})

    async def text(self, selector: str) -> str:
        """The rendered text of the element `selector` ('' if there is none)."""
        return await self.evaluate(f"document.querySelector({json.dumps(selector)})?.innerText ?? ''")

    async def screenshot(self, path: Path) -> Path:
        """Save what the viewport shows as a PNG."""
        result = await self.browser.send("browsingContext.captureScreenshot", {"context": self.context})
        path.write_bytes(base64.b64decode(result["data"]))
        return path


async def _listening_endpoint(process: asyncio.subprocess.Process, log: deque[str]) -> str:
    # Firefox announces its BiDi websocket on stderr once the remote agent is up.
    while True:
        line = await process.stderr.readline()
        if not line:
            raise BiDiError("Firefox exited before its WebDriver BiDi server started:\n" + "\n".join(log))
        text = line.decode(errors="replace").rstrip()
        log.append(text)
        match = re.search(r"WebDriver BiDi listening on (ws://\S+)", text)
        if match:
            return match.group(1)


async def _drain(process: asyncio.subprocess.Process, log: deque[str]) -> None:
    # A full stderr pipe would stall the browser; keep the last lines for failure messages.
    while line := await process.stderr.readline():
        log.append(line.decode(errors="replace").rstrip())
