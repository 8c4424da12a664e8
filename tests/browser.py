"""A real browser for tests: Playwright driving Debian's headless Chromium.

Playwright's own browser download does not work on these machines, so the system ``chromium``
(``apt-get install -y chromium``; ``.ci/run`` installs it) is launched by path. Without it a test
skips visibly on a developer's machine, and fails when ``CI`` is set: CI never skips it.

    async with browser_page() as page:
        await page.goto(url)
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def chromium_path() -> str:
    """Debian's Chromium, or skip (developer) / fail (CI) saying how to install it."""
    for candidate in (
        "/usr/bin/chromium",
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
    ):
        if candidate and Path(candidate).exists():
            return candidate
    reason = "Debian's chromium is not installed (apt-get install -y chromium; .ci/run does)"
    if os.environ.get("CI"):
        pytest.fail(f"{reason}: CI must run the browser tests, not skip them")
    pytest.skip(reason)


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Any]:
    """A headless Chromium (closed on exit), to share across tests: each opens its own context."""
    executable = chromium_path()
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


@contextlib.asynccontextmanager
async def browser_page() -> AsyncIterator[Any]:
    """A fresh page in a fresh headless Chromium (closed on exit)."""
    async with chromium() as browser:
        context = await browser.new_context()
        yield await context.new_page()
