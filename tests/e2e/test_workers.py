"""The Workers screen lists the worker the stack started."""

from __future__ import annotations

from playwright.sync_api import expect

from .conftest import UI_WAIT_MS, Browsing, Stack
from .ui import login


def test_workers_screen_lists_the_live_worker(browsing: Browsing, stack: Stack) -> None:
    page = browsing.page()
    login(page, "alice")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Workers").click()
    expect(page.get_by_role("heading", name="Workers", exact=True)).to_be_visible()
    pid = stack.procs["worker"].pid
    # manage.py worker runs the worker in its own process: named host:pid.
    row = page.get_by_role("row").filter(
        has=page.get_by_role("rowheader").filter(has_text=f":{pid}")
    )
    expect(row).to_have_count(1, timeout=UI_WAIT_MS)
    expect(row.get_by_role("cell", name="online")).to_be_visible()
    expect(row.get_by_role("cell", name="high, default, low")).to_be_visible()
    expect(row.get_by_role("cell", name="of 8", exact=False)).to_be_visible()
    expect(page.get_by_role("heading", name="Throughput")).to_be_visible()
    browsing.shot(page, "workers")
