"""Load report pages in headless Chromium (Debian's `chromium`, driven by Playwright;
Playwright never downloads a browser here) and say what went wrong: console errors,
page errors, failed or non-local requests, figures that did not render.

Used by the tests and by `benchmarks/report.py`; needs the `test` extra (playwright).
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

# The flags the machine notes ask for; Playwright adds its own --headless.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


@dataclass
class PageCheck:
    url: str
    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)  # failed, HTTP >= 400, or not from disk
    images: list[dict[str, object]] = field(default_factory=list)  # src, naturalWidth/Height, rendered width/height
    screenshot: Path | None = None

    @property
    def empty_images(self) -> list[str]:
        return [str(i["src"]) for i in self.images if not (i["naturalWidth"] and i["naturalHeight"] and i["width"] and i["height"])]

    @property
    def ok(self) -> bool:
        return not self.console_errors and not self.failed_requests and not self.empty_images


def find_chromium() -> str | None:
    """The Chromium binary (Debian's package installs /usr/bin/chromium)."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def check_pages(pages: list[Path], screenshots: list[Path | None] | None = None, width: int = 1200) -> list[PageCheck]:
    """Open each page from disk in one fresh headless Chromium (fresh profile) and
    record what went wrong; write a full-page screenshot where asked."""
    from playwright.sync_api import sync_playwright

    executable = find_chromium()
    if executable is None:
        raise RuntimeError("no chromium on PATH (Debian: apt-get install chromium)")
    shots = screenshots or [None] * len(pages)
    results: list[PageCheck] = []
    with tempfile.TemporaryDirectory(prefix="schedcast-chromium-") as profile, sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            profile, executable_path=executable, headless=True, args=list(CHROMIUM_ARGS),
            viewport={"width": width, "height": 900}, offline=True,
        )
        try:
            for page_path, shot in zip(pages, shots):
                check = PageCheck(url=page_path.resolve().as_uri())
                page = context.new_page()

                def route(r, check: PageCheck = check) -> None:  # type: ignore[no-untyped-def]
                    url = r.request.url
                    if url.startswith(("file:", "data:")):
                        r.continue_()
                    else:
                        check.failed_requests.append(f"not from disk: {url}")
                        r.abort()

                page.route("**/*", route)
                page.on("console", lambda msg, check=check: check.console_errors.append(msg.text) if msg.type == "error" else None)
                page.on("pageerror", lambda exc, check=check: check.console_errors.append(f"page error: {exc}"))
                page.on("requestfailed", lambda req, check=check: check.failed_requests.append(f"{req.url}: {req.failure}"))
                page.on("response", lambda resp, check=check: check.failed_requests.append(f"{resp.url}: HTTP {resp.status}") if resp.status >= 400 else None)
                page.goto(check.url, wait_until="load")
                page.wait_for_function("Array.from(document.images).every(i => i.complete)")
                check.images = page.evaluate(
                    """Array.from(document.images).map(i => {
                        const r = i.getBoundingClientRect();
                        return {src: i.getAttribute('src'), naturalWidth: i.naturalWidth, naturalHeight: i.naturalHeight, width: r.width, height: r.height};
                    })"""
                )
                if shot is not None:
                    shot.parent.mkdir(parents=True, exist_ok=True)
                    page.screenshot(path=str(shot), full_page=True)
                    check.screenshot = shot
                page.close()
                results.append(check)
        finally:
            context.close()
    return results
