"""Every screen with realistic content, for the README.

The shots land in test-artifacts/screenshots/ like all others; with
``E2E_UPDATE_DOCS=1`` they also replace the committed copies in
docs/screenshots/ (readme-*.png), which the README shows.
"""

from __future__ import annotations

from playwright.sync_api import expect

from tests.conftest import RUN_ID

from .conftest import PASSWORDS, UI_WAIT_MS, Browsing, copy_to_docs
from .ui import (
    fill_exchange,
    fill_github,
    fill_quote,
    fill_weather,
    job_row,
    login,
    open_submit,
    submit,
)


def test_screens_for_the_readme(browsing: Browsing) -> None:
    page = browsing.page(viewport={"width": 1280, "height": 800})

    def shot(name: str) -> None:
        copy_to_docs(browsing.shot(page, name), f"{name}.png")

    page.goto("/login")
    page.get_by_label("Username").fill("demo")
    page.get_by_label("Password").fill(PASSWORDS["demo"])
    shot("readme-login")
    login(page, "demo")

    # Three quick jobs, with plain parameters (no sandbox triggers on screen).
    done = []
    open_submit(page, "quote")
    fill_quote(page, 3)
    done.append(submit(page))
    open_submit(page, "github")
    fill_github(page, "octocat/Hello-World")
    done.append(submit(page))
    open_submit(page, "exchange")
    fill_exchange(page, ["USD", "GBP"], "2024-01-01", "2024-06-28")
    exchange = submit(page)
    done.append(exchange)

    # Then one caught half way: Oslo is quick, the second place is slow.
    open_submit(page, "weather")
    fill_weather(page, ["Oslo", f"sandbox-slow-readme{RUN_ID[-6:]}"])
    shot("readme-submit")
    running = submit(page)
    page.get_by_role("link", name="← All jobs").click()
    row = job_row(page, running)
    expect(row.get_by_role("progressbar")).to_have_attribute(
        "aria-valuenow", "50", timeout=UI_WAIT_MS
    )
    for job_id in done:
        expect(job_row(page, job_id).get_by_role("cell", name="Succeeded")).to_be_visible()
    shot("readme-jobs")
    expect(row.get_by_role("cell", name="Succeeded")).to_be_visible(timeout=UI_WAIT_MS)

    page.goto(f"/jobs/{exchange}")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Succeeded")
    expect(page.get_by_role("figure", name="Price of 1 EUR", exact=False)).to_be_visible()
    shot("readme-job-detail")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Workers").click()
    expect(page.get_by_role("cell", name="online")).to_be_visible(timeout=UI_WAIT_MS)
    expect(page.get_by_role("figure", name="Jobs finished per minute")).to_be_visible()
    shot("readme-workers")
