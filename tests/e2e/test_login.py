"""Signing in and out through the login screen."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from .conftest import Browsing
from .ui import login


def test_wrong_password_is_refused_in_words(browsing: Browsing) -> None:
    page = browsing.page()
    page.goto("/jobs")
    # Not signed in: the app sends the visitor to the login screen, keeping the way back.
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fjobs$"))
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("not-her-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong username or password.")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    browsing.shot(page, "wrong-password")


def test_sign_in_then_out(browsing: Browsing) -> None:
    page = browsing.page()
    login(page, "alice")
    expect(page.get_by_role("banner").get_by_text("alice", exact=True)).to_be_visible()
    browsing.shot(page, "signed-in")
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    # The session is gone on the server too: a protected screen asks again.
    page.goto("/workers")
    expect(page).to_have_url(re.compile(r"/login\?next="))
