"""Cancelling a running job: asked first, then the job ends Cancelled."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.conftest import RUN_ID

from .conftest import UI_WAIT_MS, Browsing
from .ui import fill_weather, job_row, login, open_submit, submit


def test_cancel_a_running_job_after_confirming(browsing: Browsing) -> None:
    page = browsing.page()
    login(page, "alice")
    open_submit(page, "weather")
    # Three slow look-ups in a row: the job runs for several SLOW_SECONDS.
    fill_weather(page, [f"sandbox-slow-cancel{RUN_ID[-6:]}{i}" for i in range(3)])
    job_id = submit(page)

    title = page.get_by_role("heading", level=1)
    expect(title).to_contain_text(re.compile(r"Started|Running"), timeout=UI_WAIT_MS)

    # Changing one's mind: "Keep" leaves the job alone.
    page.get_by_role("button", name="Cancel job").click()
    question = page.get_by_role("group", name="Cancel this job?")
    expect(question).to_be_visible()
    question.get_by_role("button", name="Keep").click()
    expect(question).to_be_hidden()
    expect(page.get_by_role("button", name="Cancel job")).to_be_focused()

    page.get_by_role("button", name="Cancel job").click()
    expect(question.get_by_role("button", name="Yes, cancel it")).to_be_focused()
    browsing.shot(page, "confirm")
    question.get_by_role("button", name="Yes, cancel it").click()
    expect(page.get_by_role("status").filter(has_text="Cancel requested")).to_be_visible()
    expect(title).to_contain_text("Cancelled", timeout=UI_WAIT_MS)
    expect(page.get_by_role("button", name="Cancel job")).to_have_count(0)
    expect(page.get_by_role("button", name="Retry")).to_be_visible()
    # Who cancelled it, in words, where an error would be.
    error = page.get_by_role("region", name="Error")
    expect(error).to_contain_text("cancelled by alice", timeout=UI_WAIT_MS)
    browsing.shot(page, "cancelled")

    page.get_by_role("link", name="← All jobs").click()
    expect(job_row(page, job_id).get_by_role("cell", name="Cancelled")).to_be_visible()
    # The server holds it too, not only this page's memory.
    page.reload()
    expect(job_row(page, job_id).get_by_role("cell", name="Cancelled")).to_be_visible()
