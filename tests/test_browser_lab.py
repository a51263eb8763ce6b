"""A person in Chromium: log in, press the run button, watch rows arrive live."""

import pytest

from tests.support_browser import wait_for_js

pytestmark = [pytest.mark.browser, pytest.mark.live]


def test_it_shows_measurements_arriving_after_the_button_is_pressed(live_lab, browser, screenshot):
    live_lab.create_user("chromium", "a-browser-test-password")
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.goto(live_lab.url + "/accounts/login/")
    page.fill("input[name=username]", "chromium")
    page.fill("input[name=password]", "a-browser-test-password")
    page.click("button[type=submit]")
    page.get_by_role("link", name="Your lab").first.click()

    page.click("summary")  # open the parameters: a longer sweep so rows visibly stream in
    page.fill("input[name=max_size]", "64M")
    page.fill("input[name=iters]", "40")
    page.get_by_role("button", name="Run all-reduce on this machine").click()

    page.wait_for_url("**/lab/runs/*/")
    rows = page.locator("tr.measured")
    pending = page.locator("tr.pending")
    rows.first.wait_for(timeout=60_000)
    assert pending.count() > 0  # the first rows arrived while later sizes were still pending
    wait_for_js(page, "!!document.querySelector('.chart')._plot", timeout_ms=60_000)
    page.evaluate("document.querySelectorAll('.chart').forEach(el => { el._plot.seenBefore = true; })")
    wait_for_js(page, "document.querySelectorAll('tr.measured').length >= 4", timeout_ms=60_000)
    # Rows that arrived since were handed to the same charts (setData), not drawn on new ones.
    assert page.evaluate("[...document.querySelectorAll('.chart')].every(el => el._plot.seenBefore)")
    assert page.evaluate("document.querySelector('.chart')._plot.data[1].filter(v => v != null).length") >= 4
    screenshot(page, "live-run", full_page=True)

    assert page.locator(".chart canvas").count() == 2  # busbw and time charts drawn from the rows
    size_labels = page.evaluate("[...document.querySelectorAll('.chart')].map(el => el._plot.axes[0]._values)")
    assert all("0 B" not in labels and labels[-1] == "64 MiB" for labels in size_labels)  # the sweep's end named
    assert "(this run, measured)" in page.locator(".u-legend").first.inner_text()
    assert page.locator("[data-connection-notice]").is_hidden()

    page.reload()  # a reload mid-run shows what is saved and keeps streaming
    assert rows.count() >= 4
    page.wait_for_selector(".run-status.done", timeout=120_000)
    assert rows.count() == 9 and pending.count() == 0  # 1K … 64M by 4, all streamed in before "done"
    assert "1 KiB" in rows.first.inner_text() and "64 MiB" in rows.last.inner_text()
    assert page.locator(".prov.measured").count() >= 9
