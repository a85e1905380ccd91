"""The quality dashboard renders from a real validation history and reads well in a real browser.

The browser test drives the Debian ``chromium`` (``/usr/bin/chromium``) with Playwright; Playwright's
own browser download is never used. Without chromium it is skipped locally and fails in CI (``CI``
set). Its full-page screenshot is kept in ``test-output/quality_dashboard.png`` for a human to look at.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from content_signals.expectations.dashboard import FreshnessRow, QuarantineItem, render_dashboard
from content_signals.expectations.history import (
    ExpectationOutcome,
    Release,
    ValidationHistory,
    ValidationRun,
    outcome_of,
)

REPO = Path(__file__).resolve().parents[1]
SCREENSHOT = REPO / "test-output" / "quality_dashboard.png"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
NOW = datetime(2026, 3, 6, 9, 0, tzinfo=UTC)
DAYS = [date(2026, 3, 1) + timedelta(days=i) for i in range(5)]
# Observed values come from the data: they must show as text, never become markup or script.
HOSTILE = "2 unexpected values, e.g. ['<img src=x onerror=alert(1)>', '</td><script>window.pwned=1</script>']"


@pytest.fixture
def history(tmp_path: Path) -> Iterator[ValidationHistory]:
    store = ValidationHistory(f"sqlite:///{tmp_path / 'history.db'}")
    yield store
    store.close()


def _expectations(failed: dict[str, str]) -> tuple[ExpectationOutcome, ...]:
    """Three expectations; ``failed`` maps the ones that failed to their severity."""
    specs = [
        ("expect_column_values_to_not_be_null", "content_id", "error", None),
        (
            "expect_column_mean_to_be_between",
            "skip_rate_7d",
            "warning",
            '{"min_value": 0.1, "max_value": 0.5}',
        ),
        ("expect_table_row_count_to_be_between", None, "error", '{"min_value": 900, "max_value": 1100}'),
    ]
    return tuple(
        ExpectationOutcome(
            expectation=name,
            column=column,
            severity=failed.get(f"{name}:{column}", severity),  # type: ignore[arg-type]
            success=f"{name}:{column}" not in failed,
            observed=(HOSTILE if column == "content_id" else "observed 0.61")
            if f"{name}:{column}" in failed
            else None,
            threshold=threshold,
        )
        for name, column, severity, threshold in specs
    )


def _run_id(table: str, day: date, index: int) -> str:
    """The runner's format (start time, six hex digits); derived here so that ids are stable."""
    return f"{day:%Y%m%d}T030000-{hashlib.sha256(f'{table}{index}'.encode()).hexdigest()[:6]}"


BLOCKED_RUN = _run_id("content_engagement", DAYS[4], 4)


def _run(
    table: str, day: date, index: int, failed: dict[str, str], rows: int, docs: str | None = None
) -> ValidationRun:
    expectations = _expectations(failed)
    drift = index * 0.03
    return ValidationRun(
        run_id=_run_id(table, day, index),
        table=table,
        partition=day,
        suite=f"{table}.v2",
        validated_at=datetime.combine(day + timedelta(days=1), datetime.min.time(), UTC) + timedelta(hours=3),
        outcome=outcome_of(expectations),
        rows=rows,
        stats={
            "skip_rate_7d": {
                "mean": 0.30 + drift,
                "stddev": 0.08,
                "p50": 0.28 + drift,
                "null_rate": 0.01 * index,
            },
            "plays_7d": {"mean": 120.0 - 4 * index, "stddev": 35.0, "p50": 80.0 - index, "null_rate": 0.0},
            "completion_rate_7d": {"mean": 0.55, "stddev": None, "p50": 0.57, "null_rate": 0.02},
        },
        expectations=expectations,
        data_docs=docs,
    )


def _fill(history: ValidationHistory, docs_inside: Path, docs_outside: Path) -> None:
    """content_metadata ends passed, content_engagement blocked, creator_profile warned."""
    warn = {"expect_column_mean_to_be_between:skip_rate_7d": "warning"}
    block = {"expect_column_values_to_not_be_null:content_id": "error"}
    for i, day in enumerate(DAYS):
        history.record(
            _run("content_metadata", day, i, warn if i == 2 else {}, 1000 + 7 * i, str(docs_inside))
        )
        history.record(
            _run("content_engagement", day, i, block if i == 4 else {}, 1000 - 40 * i, str(docs_outside))
        )
        history.record(_run("creator_profile", day, i, warn if i >= 3 else {}, 40 + i))
    # A re-validation of an earlier engagement partition after it was released by hand.
    history.record(replace(_run("content_engagement", DAYS[1], 9, {}, 960), trigger="validate"))
    history.record_release(
        Release(
            "content_engagement", DAYS[1], "released-run", NOW - timedelta(days=2), "alice", True, "known gap"
        )
    )


def _inputs(tmp_path: Path) -> tuple[list[QuarantineItem], list[FreshnessRow]]:
    quarantine = [
        QuarantineItem(
            table="content_engagement",
            partition=DAYS[4],
            run_id=BLOCKED_RUN,
            failed=("expect_column_values_to_not_be_null(content_id)",),
            path=tmp_path / "data" / "quarantine" / "content_engagement" / "date=2026-03-05" / BLOCKED_RUN,
        )
    ]
    freshness = [
        FreshnessRow("content_metadata", DAYS[4], 9.0, False),
        FreshnessRow("content_engagement", DAYS[3], 57.0, True),
        FreshnessRow("content_audio", None, None, True),
    ]
    return quarantine, freshness


def _docs(tmp_path: Path) -> tuple[Path, Path]:
    inside = tmp_path / "site" / "gx" / "data_docs" / "validations" / "run.html"
    outside = tmp_path / "elsewhere" / "docs" / "run.html"
    for page in (inside, outside):
        page.parent.mkdir(parents=True)
        page.write_text("<!DOCTYPE html><html><head><title>Data Docs</title></head><body>GX</body></html>")
    return inside, outside


def test_the_dashboard_reads_well_in_a_real_browser(history: ValidationHistory, tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is required in CI (apt-get install -y chromium)")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install -y chromium); CI is unset")
    from playwright.sync_api import sync_playwright

    inside, outside = _docs(tmp_path)
    _fill(history, inside, outside)
    quarantine, freshness = _inputs(tmp_path)
    index = render_dashboard(history, quarantine, freshness, tmp_path / "site" / "dashboard", NOW)

    errors: list[str] = []
    failed_requests: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on(
                "console", lambda message: errors.append(message.text) if message.type == "error" else None
            )
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on("requestfailed", lambda request: failed_requests.append(request.url))
            page.goto(index.as_uri(), wait_until="load")

            assert page.locator("#overall-status").inner_text().strip().lower() == "overall status: blocked"
            expected = {
                "content_metadata": "passed",
                "content_engagement": "blocked",
                "creator_profile": "warned",
            }
            for table, status in expected.items():
                row = page.locator(f'#tables tr[data-table="{table}"]')
                assert row.locator("td").first.inner_text() == table
                assert row.locator("td.status").inner_text().strip().lower() == status
                section = page.locator(f'section[data-table="{table}"]')
                assert section.locator("h2").inner_text().lower() == f"{table} {status}"
            blocked_row = page.locator('#tables tr[data-table="content_engagement"]').inner_text()
            assert "expect_column_values_to_not_be_null(content_id)" in blocked_row
            assert HOSTILE in blocked_row  # shown as text...
            assert page.evaluate("window.pwned") is None  # ...never run
            assert page.locator("main script").count() == 0

            quarantined = page.locator("#quarantine tr[data-table='content_engagement']").inner_text()
            for text in (
                "2026-03-05",
                BLOCKED_RUN,
                "expect_column_values_to_not_be_null(content_id)",
            ):
                assert text in quarantined
            assert str(quarantine[0].path) in quarantined

            assert page.locator("#freshness tr.stale").count() == 2
            stale = page.locator('#freshness tr[data-view="content_engagement"]')
            assert stale.get_attribute("class") == "stale"
            assert "2026-03-04" in stale.inner_text() and "stale" in stale.inner_text().lower()
            assert (
                "never materialized" in page.locator('#freshness tr[data-view="content_audio"]').inner_text()
            )
            fresh = page.locator('#freshness tr[data-view="content_metadata"]')
            assert "fresh" in fresh.inner_text().lower()
            background = "cell => getComputedStyle(cell).backgroundColor"
            stale_colour = stale.locator("td").first.evaluate(background)
            assert stale_colour != fresh.locator("td").first.evaluate(background), (
                "stale views must stand out"
            )

            images = page.locator("img")
            assert images.count() == 3 * 4  # status, rows, null rates, drift per table
            widths = images.evaluate_all("all => all.map(img => img.complete ? img.naturalWidth : 0)")
            assert all(width > 0 for width in widths), widths

            SCREENSHOT.parent.mkdir(exist_ok=True)
            page.screenshot(path=str(SCREENSHOT), full_page=True)

            # The Data Docs link under the dashboard's parent is relative and leads to the page.
            link = page.locator('#tables tr[data-table="content_metadata"] a', has_text="Data Docs")
            assert link.get_attribute("href") == "../gx/data_docs/validations/run.html"
            outside_href = page.locator('#tables tr[data-table="content_engagement"] a', has_text="Data Docs")
            assert outside_href.get_attribute("href") == outside.as_uri()
            link.click()
            page.wait_for_load_state("load")
            assert page.title() == "Data Docs"
        finally:
            browser.close()

    assert errors == []
    assert failed_requests == []
    assert SCREENSHOT.stat().st_size > 0


def test_an_empty_history_renders_a_sensible_page(history: ValidationHistory, tmp_path: Path) -> None:
    out = tmp_path / "dashboard"
    index = render_dashboard(history, [], [], out, NOW)
    page = index.read_text()
    assert "No validation runs recorded yet" in page
    assert "Nothing in quarantine." in page
    assert "No feature views reported." in page
    assert list(out.glob("*.png")) == []
    assert sorted(p.name for p in out.iterdir()) == ["index.html"]


def test_names_and_values_from_the_data_cannot_inject_markup(
    history: ValidationHistory, tmp_path: Path
) -> None:
    evil = "<b>x</b>\"'&"
    run = _run(evil, DAYS[0], 0, {"expect_column_values_to_not_be_null:content_id": "error"}, 10)
    history.record(run)
    quarantine = [QuarantineItem(evil, DAYS[0], run.run_id, ("<i>bad</i>",), tmp_path / "<q>")]
    freshness = [FreshnessRow("<u>view</u>", None, None, True)]
    page = render_dashboard(history, quarantine, freshness, tmp_path / "out", NOW).read_text()
    for raw in ("<b>x</b>", "<i>bad</i>", "<u>view</u>", "<script>", "<img src=x"):
        assert raw not in page
    assert "&lt;b&gt;x&lt;/b&gt;&quot;&#x27;&amp;" in page
    assert "&lt;script&gt;window.pwned=1&lt;/script&gt;" in page


def test_links_are_relative_under_the_parent_and_unsafe_schemes_are_dropped(
    history: ValidationHistory, tmp_path: Path
) -> None:
    out = tmp_path / "site" / "dashboard"
    gx_url = (tmp_path / "site" / "gx" / "v" / "run 1.html").as_uri() + "#top"  # as GX reports it
    targets = [
        str(tmp_path / "site" / "gx" / "a b.html"),
        "/opt/docs/x.html",
        "javascript://%0aalert(1)",
        "javascript:alert(1)",
        "gx/rel.html",
        gx_url,
        "https://docs.example/run.html",
    ]
    for i, docs in enumerate(targets):
        history.record(_run("content_metadata", DAYS[0] + timedelta(days=i), i, {}, 10, docs))
    page = render_dashboard(history, [], [], out, NOW).read_text()
    hrefs = re.findall(r'href="([^"]+)"', page)
    assert "../gx/a%20b.html" in hrefs
    assert "file:///opt/docs/x.html" in hrefs
    assert "../gx/rel.html" in hrefs
    assert "../gx/v/run%201.html#top" in hrefs
    assert "https://docs.example/run.html" in hrefs
    assert not any("javascript" in href for href in hrefs)


def test_rerendering_replaces_files_atomically_and_drops_old_plots(
    history: ValidationHistory, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    history.record(_run("content_metadata", DAYS[0], 0, {}, 100))
    render_dashboard(history, [], [], out, NOW)
    first = {p.name for p in out.glob("plot-*.png")}
    history.record(_run("content_metadata", DAYS[1], 1, {}, 200))
    index = render_dashboard(history, [], [], out, NOW)
    second = {p.name for p in out.glob("plot-*.png")}
    assert first and second and first != second
    referenced = set(re.findall(r'src="(plot-[^"]+\.png)"', index.read_text()))
    assert referenced == second  # every plot the page uses exists, and nothing else is left
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary files


def test_now_must_be_timezone_aware(history: ValidationHistory, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        render_dashboard(history, [], [], tmp_path, datetime(2026, 3, 6, 9, 0))
