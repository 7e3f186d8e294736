"""On a phone-sized screen the jobs table is usable: no sideways scrolling,
each job readable and its link reachable."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.conftest import RUN_ID

from .conftest import UI_WAIT_MS, Browsing
from .ui import fill_quote, job_row, login, open_submit, row_progress, short_id, submit

PHONE = {"width": 390, "height": 844}


def test_jobs_table_on_a_narrow_screen(browsing: Browsing) -> None:
    page = browsing.page(viewport=PHONE, is_mobile=True, has_touch=True)
    login(page, "alice")
    open_submit(page, "quote")
    # Slow first page: the job outlives the page's first query (see ui.fill_quote).
    fill_quote(page, 1, author=f"sandbox-slow-narrow{RUN_ID[-6:]}")
    browsing.shot(page, "submit")
    job_id = submit(page)
    expect(page.get_by_role("heading", level=1)).to_contain_text("Succeeded", timeout=UI_WAIT_MS)
    browsing.shot(page, "detail")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Jobs").click()
    row = job_row(page, job_id)
    expect(row.get_by_role("cell", name="Succeeded")).to_be_visible()
    expect(row_progress(page, job_id)).to_be_visible()
    widths = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert widths[0] <= widths[1], f"the page scrolls sideways: {widths}"
    for part in (
        row.get_by_role("link", name=short_id(job_id)),
        row.get_by_role("cell", name="Succeeded"),
        row_progress(page, job_id),
    ):
        box = part.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], (
            f"{part} is cut off: {box}"
        )
    browsing.shot(page, "jobs")

    row.get_by_role("link", name=short_id(job_id)).tap()
    expect(page.get_by_text(job_id, exact=True)).to_be_visible()
