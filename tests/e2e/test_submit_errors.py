"""Refused parameters are shown next to the field they concern, and nothing runs."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from .conftest import Browsing
from .ui import login, open_submit, place


def test_client_side_error_is_tied_to_its_field(browsing: Browsing) -> None:
    page = browsing.page()
    login(page, "alice")
    open_submit(page, "github")
    repo = page.get_by_role("textbox", name="Repo", exact=True)
    repo.fill("not a repository")
    page.get_by_role("button", name="Submit job").click()
    # The message is the field's own description (aria-describedby), so a
    # screen reader reads it with the field, and the field is marked invalid.
    expect(repo).to_have_attribute("aria-invalid", "true")
    expect(repo).to_have_accessible_description(re.compile(r"owner/repo"))
    expect(repo).to_be_focused()
    expect(page.get_by_role("alert").filter(has_text="marked field")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/submit\?provider=github$"))
    browsing.shot(page, "github-repo-error")

    # Fixing the value clears the error as the person types.
    repo.fill("octocat/Hello-World")
    expect(repo).to_have_attribute("aria-invalid", "false")


def test_server_side_error_lands_next_to_the_field(browsing: Browsing) -> None:
    page = browsing.page()
    login(page, "alice")
    open_submit(page, "weather")
    first = place(page, 1)
    # A name *and* coordinates: each value is fine alone, the provider's
    # cross-field rule (checked by the server) refuses the pair.
    first.get_by_label("Name").fill("Lisbon")
    first.get_by_label("Latitude").fill("38.7")
    first.get_by_label("Longitude").fill("-9.1")
    page.get_by_role("button", name="Submit job").click()
    expect(first.get_by_role("alert")).to_have_text(re.compile(r"not both"))
    expect(page).to_have_url(re.compile(r"/submit\?provider=weather$"))
    browsing.shot(page, "weather-place-error")

    # With the coordinates cleared, the same form goes through.
    first.get_by_label("Latitude").fill("")
    first.get_by_label("Longitude").fill("")
    page.get_by_role("button", name="Submit job").click()
    expect(page).to_have_url(re.compile(r"/jobs/[^/]+$"))
