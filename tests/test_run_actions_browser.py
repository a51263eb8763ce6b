"""A person in Chromium pressing a run's buttons after the websocket has swapped its status block
in: the swapped-in forms were rendered without a request (no CSRF token), and Cancel / Run again
answered 403. With JavaScript off the page refreshes itself until the run ends, and its buttons
are the plain forms."""

import pytest

from tests.live import Browserless
from tests.support_browser import wait_for_js

pytestmark = [pytest.mark.browser, pytest.mark.live]

LONG_SWEEP = dict(experiment="collective_sweep", op="all_reduce", min_size="1K", max_size="64M", factor=4,
                  dtype="float32", nproc=2, warmup=2, iters=40, p2p_shown="on", p2p="on")
SHORT_SWEEP = {**LONG_SWEEP, "max_size": "64K", "iters": 5}

# Counts the status blocks htmx swapped in from the socket, so a test knows the live one is shown.
COUNT_SWAPS = """document.addEventListener("htmx:oobAfterSwap", function (event) {
  if (event.detail.target && event.detail.target.classList.contains("run-status")) {
    window.statusSwaps = (window.statusSwaps || 0) + 1;
  }
});"""


def _page(live_lab, browser, username, javascript=True):
    live_lab.create_user(username, "a-browser-test-password-9")
    client = Browserless(live_lab)
    client.login(username, "a-browser-test-password-9")
    context = browser.new_context(java_script_enabled=javascript)
    context.add_cookies([{"name": c.name, "value": c.value, "url": live_lab.url} for c in client.jar])
    page = context.new_page()
    page.add_init_script(COUNT_SWAPS)
    return client, page


def test_it_cancels_from_a_status_block_the_socket_swapped_in(live_lab, browser):
    client, page = _page(live_lab, browser, "canceller")
    busy = client.start_run(**LONG_SWEEP)  # the worker takes one run at a time: the next one queues
    run_id = client.start_run(**LONG_SWEEP)
    page.goto(f"{live_lab.url}/lab/runs/{run_id}/")
    wait_for_js(page, "window.statusSwaps >= 1", timeout_ms=20_000)

    page.get_by_role("button", name="Cancel run").click()

    status = page.locator(".run-status strong.status", has_text="cancelled")
    try:
        status.wait_for(timeout=3_000)
    except Exception:
        raise AssertionError(f"not cancelled within 3 s: {page.locator('.run-status').inner_text()!r} "
                             f"at {page.url}") from None
    assert page.url.endswith(f"/lab/runs/{run_id}/")
    client.post(f"/lab/runs/{busy}/cancel/", {})


def test_it_runs_again_after_watching_a_run_finish_live(live_lab, browser):
    client, page = _page(live_lab, browser, "rerunner")
    # Queued behind a busy run, so "done" comes over the socket: a short run alone could finish
    # before the page opened, and the page would render "done" itself (seen in a CI run).
    busy = client.start_run(**LONG_SWEEP)
    run_id = client.start_run(**SHORT_SWEEP)
    page.goto(f"{live_lab.url}/lab/runs/{run_id}/")
    wait_for_js(page, "window.statusSwaps >= 1", timeout_ms=20_000)  # the socket's snapshot: queued
    client.post(f"/lab/runs/{busy}/cancel/", {})
    page.wait_for_selector(".run-status.done", timeout=60_000)
    assert page.evaluate("window.statusSwaps") >= 2  # "done" arrived over the socket, not by reload

    page.get_by_role("button", name="Run again with the same parameters").click()

    page.wait_for_url(lambda url: "/lab/runs/" in url and not url.endswith(f"/runs/{run_id}/"), timeout=5_000)
    again = int(page.url.rstrip("/").rsplit("/", 1)[1])
    assert again > run_id
    assert page.locator(".run-status strong.status").text_content().strip() in ("queued", "running", "done")


def test_it_follows_a_run_to_the_end_with_javascript_off_and_runs_it_again(live_lab, browser):
    client, page = _page(live_lab, browser, "nojs", javascript=False)
    run_id = client.start_run(**SHORT_SWEEP)
    page.goto(f"{live_lab.url}/lab/runs/{run_id}/")
    # No socket: the page refreshes itself every 5 s while the run is active, then stops.
    page.wait_for_selector(".run-status.done", timeout=60_000)
    assert page.locator("tr.measured").count() == 4  # 1K, 4K, 16K, 64K

    page.get_by_role("button", name="Run again with the same parameters").click()

    page.wait_for_url(lambda url: "/lab/runs/" in url and not url.endswith(f"/runs/{run_id}/"), timeout=5_000)
    assert page.locator(".run-status strong.status").text_content().strip() in ("queued", "running", "done")


def test_it_names_the_devices_in_the_legend_once_a_queued_run_starts(live_lab, browser):
    """Issue 11: the live chart's legend said "#N devices not chosen yet" until a reload."""
    client, page = _page(live_lab, browser, "legend")
    busy = client.start_run(**LONG_SWEEP)
    run_id = client.start_run(**SHORT_SWEEP)
    page.goto(f"{live_lab.url}/lab/runs/{run_id}/")
    legend = page.locator(".u-legend").first
    assert "devices not chosen yet" in legend.inner_text()  # queued behind the busy run
    client.post(f"/lab/runs/{busy}/cancel/", {})  # the worker takes this run next

    page.wait_for_selector(".run-status.done", timeout=90_000)
    wait_for_js(page, "document.querySelector('.u-legend').innerText.includes('CPU (gloo)')", timeout_ms=5_000)
    assert "not chosen yet" not in legend.inner_text()
