"""Take the README's screenshots of the web desk: runs ``edubot demo --fast --keep``, opens
the links it prints in the system's Chromium (Playwright) and saves
``docs/screenshots/board.png`` and ``docs/screenshots/venue.png``.

    .venv/bin/python docs/screenshots.py
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

OUT = Path(__file__).with_name("screenshots")
LINK = re.compile(r"(http://127\.0\.0\.1:\d+/desk/\S+)")


def _links(demo: subprocess.Popen[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    deadline = time.monotonic() + 300
    assert demo.stdout is not None
    for line in demo.stdout:
        match = LINK.search(line)
        if match and "主持人" in line:
            found["host"] = match.group(1)
        elif match and "看板" in line:
            found["board"] = match.group(1)
        if len(found) == 2 or time.monotonic() > deadline:
            break
    return found


def main() -> int:
    """Run the demo, open its links, save the two screenshots; 1 without Chromium."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("no Chromium: apt-get install chromium", file=sys.stderr)
        return 1
    OUT.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        demo = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            [sys.executable, "-m", "bot", "demo", "--fast", "--keep", "--out", tmp],
            stdout=subprocess.PIPE,
            text=True,
            env={"COLUMNS": "400", "PATH": "/usr/bin:/bin"},
        )
        try:
            links = _links(demo)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
                board = browser.new_page(viewport={"width": 1280, "height": 720})
                board.goto(links["board"])
                board.locator("#ranking tbody tr").first.wait_for()
                board.screenshot(path=str(OUT / "board.png"))
                page = browser.new_page(viewport={"width": 1100, "height": 900})
                page.goto(links["host"])
                page.click("#enter")
                page.goto(links["host"].split("/desk/")[0] + "/desk/venues/ruiquan")
                page.wait_for_load_state("networkidle")
                page.screenshot(path=str(OUT / "venue.png"), full_page=True)
                browser.close()
        finally:
            demo.terminate()
            demo.wait(timeout=30)
    print(f"saved {OUT / 'board.png'} and {OUT / 'venue.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
