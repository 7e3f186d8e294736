"""A job of each provider, submitted through the form and watched live.

One tab holds the Jobs screen open; another submits through the Submit
screen. The job's row must appear, its progress bar move and its state reach
"Succeeded" in the first tab without it ever reloading (subscriptions), and
the job's page must draw the result the way the provider calls for.

Each job has a slow sandbox answer (``sandbox-slow-*``), so it runs for a
few seconds and the bar is seen before the end: no timing is asserted, only
the order of what the page showed.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import RUN_ID

from .conftest import UI_WAIT_MS, Browsing
from .ui import (
    FILLERS,
    PROGRESS_RECORDER,
    job_row,
    login,
    mark_document,
    open_submit,
    progress_history,
    row_progress,
    same_document,
    short_id,
    submit,
    wait_live,
)

_fresh = itertools.count()


def fresh(name: str) -> str:
    """A sandbox trigger no other job used (the sandbox is slow once per value)."""
    return f"{name}-{RUN_ID[-6:]}{next(_fresh)}".lower()


def check_weather(page: Page) -> None:
    chart = page.get_by_role("figure", name="Daily weather in Lisbon")
    expect(chart).to_be_visible()
    # recharts drew lines (temperatures) into its SVG, not just an empty frame.
    expect(chart.locator("svg .recharts-line").first).to_be_visible()
    expect(page.get_by_role("heading", name="Lisbon", exact=False).first).to_be_visible()


def check_quote(page: Page) -> None:
    cards = page.get_by_role("blockquote")
    expect(cards).to_have_count(3)
    expect(page.get_by_text("3 of 3 requested", exact=False)).to_be_visible()


def check_exchange(page: Page) -> None:
    chart = page.get_by_role("figure", name="Price of 1 EUR, 2024-01-01 to 2024-06-28")
    expect(chart).to_be_visible()
    expect(chart.locator("svg .recharts-line")).to_have_count(2)
    stats = page.get_by_role("table", name="Statistics per currency (1 EUR in each)")
    expect(stats.get_by_role("rowheader", name="USD")).to_be_visible()


def check_github(page: Page, repo: str) -> None:
    expect(page.get_by_role("heading", level=3).get_by_role("link", name=repo)).to_be_visible()
    for label in ("Stars", "Forks", "Latest release", "Top contributor"):
        expect(page.get_by_role("term").filter(has_text=label)).to_be_visible()
    expect(page.get_by_role("heading", name="Top contributors", exact=False)).to_be_visible()


CASES: dict[str, tuple[Callable[[], dict[str, Any]], Callable[..., None]]] = {
    # The second place answers slowly: the bar sits at 1/2 meanwhile.
    "weather": (lambda: {"names": ["Lisbon", fresh("sandbox-slow")]}, check_weather),
    "quote": (lambda: {"count": 3, "author": fresh("sandbox-slow")}, check_quote),
    "exchange": (
        # XSL (a made-up currency) makes the first chunk slow; Jan-Jun is two chunks.
        lambda: {"symbols": ["USD", "XSL"], "start": "2024-01-01", "end": "2024-06-28"},
        check_exchange,
    ),
    "github": (lambda: {"repo": fresh("sandbox/slow")}, check_github),
}


@pytest.mark.parametrize("provider", list(CASES))
def test_submitted_job_moves_live_to_success_and_its_result_is_drawn(
    browsing: Browsing, provider: str
) -> None:
    make_params, check_result = CASES[provider]
    params = make_params()
    context = browsing.context()
    context.add_init_script(PROGRESS_RECORDER)

    # Tab 1: the Jobs screen, live, never reloaded from here on.
    jobs = context.new_page()
    login(jobs, "alice")
    wait_live(jobs)
    document = mark_document(jobs)

    # Tab 2: the Submit screen.
    form = context.new_page()
    form.goto("/jobs")
    open_submit(form, provider)
    FILLERS[provider](form, **params)
    browsing.shot(form, f"{provider}-form")
    job_id = submit(form)

    row = job_row(jobs, job_id)
    expect(row).to_be_visible(timeout=UI_WAIT_MS)
    expect(row.get_by_role("cell", name="Succeeded")).to_be_visible(timeout=UI_WAIT_MS)
    bar = row_progress(jobs, job_id)
    expect(bar).to_have_attribute("aria-valuenow", "100")
    expect(row.get_by_role("cell", name="1", exact=True)).to_be_visible()  # one attempt
    assert same_document(jobs, document), "the Jobs tab reloaded; it must update in place"
    browsing.shot(jobs, f"{provider}-jobs")

    seen = progress_history(jobs, f"Progress of job {short_id(job_id)}")
    assert seen, "the job's progress bar was never drawn"
    assert seen[0]["state"] != "Succeeded", f"the row appeared already finished: {seen}"
    running = [s for s in seen if s["state"] in ("Pending", "Received", "Started", "Running")]
    assert running, f"the bar was never seen before the end: {seen}"
    assert seen[-1] == {**seen[-1], "state": "Succeeded", "now": "100"}, seen
    if provider == "weather":
        # One place of two done while the slow one is looked up: a partial bar.
        assert any(s["now"] and 0 < int(s["now"]) < 100 for s in seen), seen

    # The job's page (tab 2, opened by the submit) followed the job live too.
    expect(form.get_by_role("progressbar", name="Job progress")).to_have_attribute(
        "aria-valuenow", "100", timeout=UI_WAIT_MS
    )
    expect(form.get_by_role("heading", level=1)).to_contain_text("Succeeded")
    expect(form.get_by_role("heading", name="Result")).to_be_visible()
    if provider == "github":
        check_result(form, params["repo"])
    else:
        check_result(form)
    browsing.shot(form, f"{provider}-detail")

    # From the table, the row's link opens the same page.
    row.get_by_role("link", name=short_id(job_id)).click()
    expect(jobs.get_by_text(job_id, exact=True)).to_be_visible()
    expect(jobs.get_by_role("heading", name="Result")).to_be_visible()
