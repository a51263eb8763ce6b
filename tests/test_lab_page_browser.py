"""A person in Chromium on the lab's forms and pages, at a phone's and a laptop's width: a click
during the htmx re-render of the run button still runs, no page scrolls sideways, and a refused
field says why beside itself."""

import pytest

from tests.live import Browserless
from tests.test_run_actions_browser import SHORT_SWEEP

pytestmark = [pytest.mark.browser, pytest.mark.live]

PHONE, LAPTOP = {"width": 390, "height": 844}, {"width": 1280, "height": 800}
WIDER_THAN_WINDOW = "document.documentElement.scrollWidth - window.innerWidth"


def _logged_in(live_lab, browser, username, viewport):
    live_lab.create_user(username, "a-browser-test-password-8")
    client = Browserless(live_lab)
    client.login(username, "a-browser-test-password-8")
    context = browser.new_context(viewport=viewport)
    context.add_cookies([{"name": c.name, "value": c.value, "url": live_lab.url} for c in client.jar])
    return client, context.new_page()


def test_it_runs_when_the_button_is_pressed_while_htmx_re_renders_it(live_lab, browser):
    """Changing a field re-renders the button's label; a press held across that swap was lost."""
    _, page = _logged_in(live_lab, browser, "presser", LAPTOP)
    page.goto(f"{live_lab.url}/lab/")
    page.locator("summary").first.click()
    page.fill("input[name=max_size]", "64K")  # still focused: "change" fires when the press blurs it
    box = page.locator("#sweep-run-button").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    with page.expect_response(lambda r: "/lab/?" in r.url):  # the re-render htmx asks for on change
        page.mouse.down()
    page.wait_for_timeout(300)  # a human press: the swap lands before the button is released
    page.mouse.up()
    page.wait_for_url("**/lab/runs/*/", timeout=5_000)


def test_it_says_why_a_field_was_refused_beside_that_field(live_lab, browser):
    _, page = _logged_in(live_lab, browser, "refused", LAPTOP)
    page.goto(f"{live_lab.url}/lab/")
    page.locator("summary").first.click()
    page.fill("input[name=max_size]", "512M")
    page.locator("#sweep-run-button").click()
    error = page.locator("input[name=max_size]").locator("xpath=..").locator(".errorlist")
    assert "at most 256" in error.inner_text() and "per rank" in error.inner_text()
    page.wait_for_load_state("load")  # the refused form is a new page: its stylesheet, before styles are read
    style = error.evaluate("el => [getComputedStyle(el).listStyleType, getComputedStyle(el).color]")
    assert style[0] == "none" and style[1] == "rgb(192, 57, 43)"  # --bad, no bullet


@pytest.mark.parametrize("viewport", [PHONE, LAPTOP], ids=["390px", "1280px"])
def test_it_fits_every_page_without_sideways_scrolling(live_lab, browser, viewport):
    client, page = _logged_in(live_lab, browser, f"narrow{viewport['width']}", viewport)
    run_id = client.start_run(**SHORT_SWEEP)
    page.goto(f"{live_lab.url}/lab/runs/{run_id}/")
    page.wait_for_selector(".run-status.done", timeout=60_000)
    too_wide = {}
    for path in (f"/lab/runs/{run_id}/", "/lab/", "/lessons/", "/lessons/all-reduce-tax/bytes/",
                 "/lessons/tp-or-replicas/fit-calculator/", "/clusters/", "/accounts/signup/"):
        page.goto(live_lab.url + path)
        page.locator("details summary").evaluate_all("els => els.forEach(el => el.parentElement.open = true)")
        overflow = page.evaluate(WIDER_THAN_WINDOW)
        if overflow > 0:
            too_wide[path] = overflow
    assert too_wide == {}, f"pages wider than a {viewport['width']} px window (extra px): {too_wide}"
