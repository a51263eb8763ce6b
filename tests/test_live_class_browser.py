"""Two people in Chromium, an instructor and a learner, through one live round with a second
vote: the learner's page follows the instructor's presses without a reload; a second learner
with JavaScript off votes with the plain form and sees the reveal after the page reloads."""
import re

import pytest

from tests.live import Browserless
from tests.test_live_class_live import _signed_up

pytestmark = [pytest.mark.browser, pytest.mark.live]


def _page(browser, lab, session, javascript=True):
    context = browser.new_context(java_script_enabled=javascript)
    context.add_cookies([{"name": c.name, "value": c.value, "url": lab.url} for c in session.jar])
    return context.new_page()


def test_it_takes_a_class_through_a_round_with_a_second_vote(live_lab, browser):
    live_lab.manage("loadlessons")
    live_lab.create_user("browserteacher", "a-browser-teacher-pw-5", staff=True)
    teacher = Browserless(live_lab)
    teacher.login("browserteacher", "a-browser-teacher-pw-5")
    created = teacher.post("/teach/", {"name": "Browser class"})
    cohort_id = int(re.search(r"/teach/(\d+)/", created.geturl()).group(1))
    code = re.search(r'class="code-badge"[^>]*>([A-Z0-9]+)<', created.read().decode()).group(1)
    learner = _page(browser, live_lab, _signed_up(live_lab, "browserlearner", code))
    no_js = _page(browser, live_lab, _signed_up(live_lab, "nojslearner", code), javascript=False)
    console = _page(browser, live_lab, teacher)

    learner.goto(f"{live_lab.url}/class/{code}/")
    learner.get_by_text("Waiting for your instructor").wait_for()
    console.goto(f"{live_lab.url}/teach/live/{cohort_id}/")
    console.select_option("#live-step", label="What does each GPU get? (predict)")
    console.get_by_role("button", name="Start: move the class to this step").click()

    learner.get_by_text("Its share of the layers, one after another").click(timeout=15_000)  # moved live
    learner.get_by_role("button", name="Send my vote").click()
    learner.get_by_text("Your vote is in").wait_for()
    console.get_by_text("1 answer of 2 learners").wait_for(timeout=15_000)  # the tally arrived live

    no_js.goto(f"{live_lab.url}/class/{code}/")
    no_js.get_by_text("A slice of every weight matrix").click()
    no_js.get_by_role("button", name="Send my vote").click()
    no_js.get_by_text("Your vote is in").wait_for()
    console.get_by_text("2 answers of 2 learners").wait_for(timeout=15_000)

    console.get_by_role("button", name="Open a second vote (after discussion)").click()
    learner.get_by_text("Second vote:").wait_for(timeout=15_000)
    learner.get_by_text("A slice of every weight matrix").click()
    learner.get_by_role("button", name="Send my vote").click()
    learner.get_by_text("Your vote is in").wait_for()
    console.get_by_text("1 changed their answer").wait_for(timeout=15_000)

    console.get_by_role("button", name="Reveal to everyone").click()
    learner.get_by_text("The answer:").wait_for(timeout=15_000)
    assert "not quite" in learner.locator("#live-learner").inner_text()  # the first vote was wrong
    no_js.reload()
    assert "The answer:" in no_js.locator("#live-learner").inner_text()
    console.get_by_role("button", name="End the live session").click()
    console.get_by_text("Start: move the class to this step").wait_for()
