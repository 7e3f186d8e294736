"""A job that finishes while its page's first query is in flight must still
end up "Succeeded" on that page (the final event wins over an older answer)."""

from __future__ import annotations

from playwright.sync_api import Route, expect

from tests.conftest import RUN_ID

from .conftest import UI_WAIT_MS, Browsing
from .ui import fill_quote, login, open_submit, submit

RECORD_WS = """
window.__wsFrames = [];
const Native = window.WebSocket;
window.WebSocket = class extends Native {
  constructor(...args) {
    super(...args);
    this.addEventListener('message', (e) => window.__wsFrames.push(String(e.data)));
  }
};
"""


def test_final_event_beats_an_older_query_answer(browsing: Browsing) -> None:
    page = browsing.page()
    page.context.add_init_script(RECORD_WS)
    login(page, "alice")
    open_submit(page, "quote")
    # Slow, so the page's first Job query is answered (and held) before the
    # job ends: that answer is surely older than the final event.
    fill_quote(page, 1, author=f"sandbox-slow-race{RUN_ID[-6:]}")
    held: list[tuple[Route, object]] = []

    def hold_job_query(route: Route) -> None:
        if '"operationName":"Job"' in (route.request.post_data or ""):
            # Asked of the real server now (the job is not done yet), handed
            # to the page only after the final event: a slow network, exactly.
            held.append((route, route.fetch()))
        else:
            route.continue_()

    page.route("**/graphql", hold_job_query)
    job_id = submit(page)
    page.wait_for_function(
        "(id) => window.__wsFrames.some((f) => f.includes(id) && f.includes('\"SUCCESS\"'))",
        arg=job_id,
        timeout=UI_WAIT_MS,
    )
    for _ in range(500):  # the held answer's fetch may still be on its way
        if held:
            break
        page.wait_for_timeout(20)
    assert held, "the page asked for the job"
    # Every title the page shows from now on, however briefly.
    page.evaluate(
        """() => {
          window.__titles = [];
          const note = () => {
            const h1 = document.querySelector('h1');
            if (h1) window.__titles.push(h1.textContent);
          };
          new MutationObserver(note).observe(document.body, {
            subtree: true, childList: true, characterData: true,
          });
        }"""
    )
    # Newest first: the oldest answer (the job not yet done) lands last.
    for route, response in reversed(held):
        route.fulfill(response=response)
    page.unroute("**/graphql")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Succeeded", timeout=15_000)
    # And it stays so, never showing the older answer's state on the way.
    page.wait_for_timeout(1_000)
    expect(page.get_by_role("heading", level=1)).to_contain_text("Succeeded")
    titles = page.evaluate("() => window.__titles")
    job_titles = [t for t in titles if " job" in t]
    assert job_titles and all("Succeeded" in t for t in job_titles), titles
