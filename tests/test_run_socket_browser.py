"""A person in Chromium on a running run's page when the lab's websocket drops: the page says
so (instead of silently freezing), and the notice goes once htmx has reconnected."""

import pytest

from tests.live import Browserless
from tests.support_browser import drop_first_socket

pytestmark = [pytest.mark.browser, pytest.mark.live]


def test_it_says_the_connection_was_lost_and_clears_it_on_reconnect(live_lab, browser):
    live_lab.create_user("socket", "a-browser-test-password-2")
    client = Browserless(live_lab)
    client.login("socket", "a-browser-test-password-2")
    run_id = client.start_run(experiment="collective_sweep", op="all_reduce", min_size="1K", max_size="64M",
                              factor=4, dtype="float32", nproc=2, warmup=2, iters=40, p2p_shown="on", p2p="on")
    page = browser.new_context().new_page()
    page.context.add_cookies([{"name": c.name, "value": c.value, "url": live_lab.url} for c in client.jar])

    connections = drop_first_socket(page, f"**/ws/runs/{run_id}/")
    page.goto(f"{live_lab.url}/lab/runs/{run_id}/")
    notice = page.locator("[data-connection-notice]")
    notice.wait_for(state="visible", timeout=10_000)
    assert "Connection to the lab lost — retrying…" in notice.inner_text()
    notice.wait_for(state="hidden", timeout=30_000)  # htmx retried, and the second connection held
    assert len(connections) == 2
    page.locator("tr.measured").first.wait_for(timeout=60_000)  # and rows stream in again
    page.get_by_role("button", name="Cancel run").click()
