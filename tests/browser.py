"""Static HTML reports (model cards) opened in the real headless chromium that CI installs."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.test_quality_dashboard import CHROMIUM, CHROMIUM_ARGS


def require_chromium() -> None:
    """Skip where chromium is missing, except in CI, where its absence is a failure."""
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is required in CI (apt-get install -y chromium)")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install -y chromium); CI is unset")


def check_report_page(html: Path, screenshot: Path, inspect: Callable[[Any], None]) -> None:
    """Load ``html``, run ``inspect(page)``, check every image decoded and nothing logged an error,
    and keep a full-page screenshot for a human to look at."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(html.as_uri(), wait_until="load")
            inspect(page)
            widths = page.locator("img").evaluate_all("all => all.map(i => i.complete ? i.naturalWidth : 0)")
            assert all(width > 0 for width in widths), widths
            screenshot.parent.mkdir(exist_ok=True)
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    assert errors == []
