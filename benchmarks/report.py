"""How long the HTML report takes to build from a main job's output, and a screenshot.

Builds the report of OUT (the main job's --out) into a temporary folder REPEAT times
and prints the time of each build and of its parts; with --screenshot, loads the
report in headless Chromium, checks it (console errors, failed requests, empty
figures) and writes a screenshot of the top of the page.

Usage: python benchmarks/report.py [OUT] [--repeat 3] [--screenshot docs/report.png] [--anchor calibration]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from schedcast.report import build_report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", type=Path, default=Path("schedcast-out"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--screenshot", type=Path, default=None, help="PNG of the report's first screen")
    parser.add_argument("--height", type=int, default=1500, help="screenshot height in pixels")
    parser.add_argument("--anchor", default="calibration", help="section the screenshot starts at")
    args = parser.parse_args()
    times, cpu = [], []
    with tempfile.TemporaryDirectory(prefix="schedcast-report-") as tmp:
        for i in range(args.repeat):
            started, started_cpu = time.perf_counter(), time.process_time()
            result = build_report(args.out, Path(tmp) / f"report-{i}")
            times.append(time.perf_counter() - started)
            cpu.append(time.process_time() - started_cpu)
            print(f"build {i + 1}: {times[-1]:.1f} s ({cpu[-1]:.1f} s CPU), {len([p for p in result.figures if p.suffix == '.csv'])} figures, "
                  f"missing sections: {', '.join(result.missing) or 'none'}")
        print(f"report from {args.out}: median {statistics.median(times):.1f} s, max {max(times):.1f} s over {len(times)} builds "
              f"(CPU median {statistics.median(cpu):.1f} s; load average now {os.getloadavg()[0]:.1f})")
        if args.screenshot is not None:
            from playwright.sync_api import sync_playwright

            from schedcast.report.browser import CHROMIUM_ARGS, check_pages, find_chromium

            check = check_pages([result.index])[0]
            print(f"chromium: {len(check.images)} figures, console errors {check.console_errors}, failed requests {check.failed_requests}, "
                  f"empty figures {check.empty_images}")
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=find_chromium(), args=list(CHROMIUM_ARGS))
                page = browser.new_page(viewport={"width": 1100, "height": args.height})
                page.goto(result.index.resolve().as_uri() + "#" + args.anchor, wait_until="load")
                page.screenshot(path=str(args.screenshot))
                browser.close()
            # A small file for the README: 128-colour palette.
            from PIL import Image

            Image.open(args.screenshot).convert("RGB").quantize(colors=128).save(args.screenshot, optimize=True)
            print(f"screenshot -> {args.screenshot} ({args.screenshot.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
