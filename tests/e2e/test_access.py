"""One person never sees another's jobs, in the table or by address."""

from __future__ import annotations

import uuid

from playwright.sync_api import expect

from tests.conftest import RUN_ID

from .conftest import UI_WAIT_MS, Browsing
from .ui import fill_quote, job_row, login, open_submit, short_id, submit, wait_live


def test_bob_cannot_see_alices_jobs(browsing: Browsing) -> None:
    bob = browsing.page()
    login(bob, "bob")
    wait_live(bob)
    expect(bob.get_by_text("No jobs yet.")).to_be_visible()

    alice = browsing.page()
    login(alice, "alice")
    open_submit(alice, "quote")
    # Slow first page: the job outlives the page's first query (see ui.fill_quote).
    fill_quote(alice, 2, author=f"sandbox-slow-alice{RUN_ID[-6:]}")
    alices_job = submit(alice)
    expect(alice.get_by_role("heading", level=1)).to_contain_text("Succeeded", timeout=UI_WAIT_MS)

    # Bob's own job shows up live in his open table...
    bobs_tab = bob.context.new_page()
    bobs_tab.goto("/submit?provider=quote")
    fill_quote(bobs_tab, 1, author=f"sandbox-slow-bob{RUN_ID[-6:]}")
    bobs_job = submit(bobs_tab)
    expect(job_row(bob, bobs_job).get_by_role("cell", name="Succeeded")).to_be_visible(
        timeout=UI_WAIT_MS
    )
    # ...and it is the only one there: Alice's finished before it was submitted.
    expect(bob.get_by_role("table").get_by_role("row")).to_have_count(2)  # header + his job
    expect(bob.get_by_text("1 job", exact=True)).to_be_visible()
    expect(bob.get_by_role("link", name=short_id(alices_job))).to_have_count(0)
    # Searching for her job's id finds nothing either.
    bob.get_by_role("searchbox", name="Search").fill(alices_job)
    expect(bob.get_by_text("No jobs match these filters.")).to_be_visible()
    browsing.shot(bob, "bobs-jobs")

    # Her job's address answers exactly like an unknown id: "No such job",
    # whichever of the page's two queries answers first, and nothing of hers.
    for job_id in (alices_job, str(uuid.uuid4())):
        bob.goto(f"/jobs/{job_id}")
        expect(bob.get_by_text("No such job", exact=True)).to_be_visible()
        expect(bob.get_by_text("Could not load this job")).to_have_count(0)
        expect(bob.get_by_text("no job with id")).to_have_count(0)
        expect(bob.get_by_role("heading", name="Result")).to_have_count(0)
        expect(bob.get_by_role("heading", name="Parameters")).to_have_count(0)
        expect(bob.get_by_role("progressbar")).to_have_count(0)
        if job_id == alices_job:
            browsing.shot(bob, "alices-job-as-bob")
