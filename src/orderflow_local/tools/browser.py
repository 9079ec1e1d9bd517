"""A headless Chromium for the console's tests and benchmark: Debian's package (or the binary
$ORDERFLOW_CHROMIUM names), driven by Playwright for Python, never a browser Playwright downloads.

https://playwright.dev/python/docs/api/class-browsertype#browser-type-launch
"""

from __future__ import annotations

import os
import shutil

#: Chromium's flags for a machine without a display or a network: no sandbox (as root), no GPU,
#: and none of its background calls to Google's services, which a closed network refuses.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
HOW_TO_INSTALL = (
    "the console's browser tests and benchmark need Chromium: install it with `sudo apt-get install chromium` "
    "(Debian, Ubuntu), or set ORDERFLOW_CHROMIUM to a Chromium binary"
)


class NoBrowserError(RuntimeError):
    """No Chromium here: its message says how to install one."""


def chromium() -> str:
    """The Chromium binary to drive: $ORDERFLOW_CHROMIUM, else `chromium` (or `chromium-browser`) on PATH."""
    found = os.environ.get("ORDERFLOW_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found or not os.access(found, os.X_OK):
        raise NoBrowserError(HOW_TO_INSTALL)
    return found
