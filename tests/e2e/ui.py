"""What a person does in the UI, as steps the tests share.

Locators go by role and label (the UI labels every field); waits are
Playwright's auto-retrying expectations, never sleeps.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from playwright.sync_api import Locator, Page, expect

from .conftest import PASSWORDS, UI_WAIT_MS

STATE_LABELS = {
    "PENDING": "Pending",
    "RECEIVED": "Received",
    "STARTED": "Started",
    "PROGRESS": "Running",
    "RETRY": "Retrying",
    "SUCCESS": "Succeeded",
    "FAILURE": "Failed",
    "REVOKED": "Cancelled",
}
"""The words the UI shows for each state (frontend/src/components/StateBadge.tsx)."""

JOB_URL = re.compile(r"/jobs/([^/?#]+)$")
"""A job's page (plain groups: Playwright hands the pattern to JavaScript)."""

PROGRESS_RECORDER = """
(() => {
  // Every value each progress bar shows, in order, with its row's state
  // badge: lets a test check afterwards that a bar moved, without polling.
  const seen = (window.__e2eProgress = {});
  const record = () => {
    for (const bar of document.querySelectorAll('[role="progressbar"]')) {
      const holder = bar.closest('tr') || bar.closest('article');
      const badge = holder && holder.querySelector('.badge');
      const entry = {
        state: badge ? badge.textContent.trim() : '',
        now: bar.getAttribute('aria-valuenow'),
        text: bar.getAttribute('aria-valuetext'),
      };
      const list = (seen[bar.getAttribute('aria-label')] ||= []);
      const last = list[list.length - 1];
      if (!last || last.state !== entry.state || last.now !== entry.now) list.push(entry);
    }
  };
  new MutationObserver(record).observe(document, {
    subtree: true, childList: true, attributes: true, characterData: true,
  });
})();
"""


def login(page: Page, user: str, password: str | None = None) -> None:
    """Sign in through the login screen and land on the jobs screen."""
    page.goto("/login")
    page.get_by_label("Username").fill(user)
    page.get_by_label("Password").fill(password or PASSWORDS[user])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Jobs", exact=True)).to_be_visible()
    expect(page).to_have_url(re.compile(r"/jobs$"))


def wait_live(page: Page) -> None:
    """Wait until the page's websocket is up (the header dot reads "Live")."""
    expect(page.get_by_title("Live", exact=True)).to_be_attached(timeout=UI_WAIT_MS)


def open_submit(page: Page, provider: str) -> None:
    """The Submit screen with ``provider`` chosen, its generated form shown."""
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Submit").click()
    expect(page.get_by_role("heading", name="Submit a job")).to_be_visible()
    page.get_by_label("Provider", exact=True).select_option(provider)
    expect(page).to_have_url(re.compile(rf"provider={provider}"))


def submit(page: Page) -> str:
    """Press "Submit job"; the app opens the new job's page. Returns its id."""
    page.get_by_role("button", name="Submit job").click()
    expect(page).to_have_url(JOB_URL, timeout=UI_WAIT_MS)
    match = JOB_URL.search(page.url)
    assert match, page.url
    return match.group(1)


def short_id(job_id: str) -> str:
    """The id as the jobs table shows it (frontend/src/jobs/JobsTable.tsx)."""
    return job_id[:8] if len(job_id) > 12 else job_id


def place(page: Page, index: int) -> Locator:
    """The fieldset of weather place ``index`` (1-based), "Place 1"..."""
    return page.get_by_role("group", name=f"Place {index}", exact=True)


# The Submit form of each provider, filled the way a person would.


def fill_weather(page: Page, names: list[str]) -> None:
    for index, name in enumerate(names, start=1):
        if index > 1:
            page.get_by_role("button", name="Add place").click()
        place(page, index).get_by_label("Name").fill(name)
    page.get_by_label("Forecast days").fill("7")


def fill_quote(page: Page, count: int, author: str = "") -> None:
    """Quotes, one page each. A ``sandbox-slow-*`` author makes the sandbox
    answer slowly, so the job is still running when its page first loads
    (a job done within that first query is covered by test_live_race.py)."""
    page.get_by_label("Count").fill(str(count))
    page.get_by_label("Page size").fill("1")
    if author:
        page.get_by_label("Author").fill(author)


def fill_exchange(page: Page, symbols: list[str], start: str, end: str) -> None:
    for index, code in enumerate(symbols, start=1):
        page.get_by_role("button", name="Add symbol").click()
        page.get_by_label(f"Symbol {index}", exact=True).fill(code)
    page.get_by_label("Start", exact=True).fill(start)
    page.get_by_label("End", exact=True).fill(end)


def fill_github(page: Page, repo: str) -> None:
    page.get_by_role("textbox", name="Repo", exact=True).fill(repo)
    page.get_by_label("Contributors").fill("5")


FILLERS: dict[str, Callable[..., None]] = {
    "weather": fill_weather,
    "quote": fill_quote,
    "exchange": fill_exchange,
    "github": fill_github,
}


def job_row(page: Page, job_id: str) -> Locator:
    """The jobs table's row of one job (its first cell links to the job)."""
    link = page.get_by_role("link", name=short_id(job_id), exact=True)
    return page.get_by_role("row").filter(has=link)


def row_progress(page: Page, job_id: str) -> Locator:
    return page.get_by_role("progressbar", name=f"Progress of job {short_id(job_id)}")


def progress_history(page: Page, label: str) -> list[dict[str, Any]]:
    """What the progress bar named ``label`` showed, in order (PROGRESS_RECORDER)."""
    return page.evaluate("(label) => (window.__e2eProgress || {})[label] || []", label)


def mark_document(page: Page) -> str:
    """Tag the loaded document; ``same_document`` then proves no reload happened."""
    return page.evaluate("() => (window.__e2eDocument = crypto.randomUUID())")


def same_document(page: Page, mark: str) -> bool:
    return page.evaluate("() => window.__e2eDocument") == mark
