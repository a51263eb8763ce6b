"""Two people in Chromium, an instructor and a learner, through one live round with a second
vote: the learner's page follows the instructor's presses without a reload; a second learner
with JavaScript off votes with the plain form and sees the reveal after the page reloads. In a
lab round the class's guesses are drawn on the run's chart; a dropped socket says so."""
import re

import pytest

from tests.live import Browserless
from tests.support_browser import drop_first_socket
from tests.test_live_class_live import _signed_up

pytestmark = [pytest.mark.browser, pytest.mark.live]


def _page(browser, lab, session, javascript=True):
    context = browser.new_context(java_script_enabled=javascript)
    context.add_cookies([{"name": c.name, "value": c.value, "url": lab.url} for c in session.jar])
    return context.new_page()


def _new_class(lab, teacher_name: str) -> tuple[Browserless, int, str]:
    """(the instructor's session, the cohort's id, its join code) for a new cohort."""
    lab.manage("loadlessons")
    lab.create_user(teacher_name, "a-browser-teacher-pw-5", staff=True)
    teacher = Browserless(lab)
    teacher.login(teacher_name, "a-browser-teacher-pw-5")
    created = teacher.post("/teach/", {"name": f"{teacher_name}'s class"})
    cohort_id = int(re.search(r"/teach/(\d+)/", created.geturl()).group(1))
    return teacher, cohort_id, re.search(r'class="code-badge"[^>]*>([A-Z0-9]+)<', created.read().decode()).group(1)


def _round_open(live_lab, browser, name: str, step_label: str):
    """(learner, learner without JavaScript, console, join code): a new class, its learner waiting
    on the live page while the instructor's console opens a round on ``step_label``."""
    teacher, cohort_id, code = _new_class(live_lab, f"{name}teacher")
    learner = _page(browser, live_lab, _signed_up(live_lab, f"{name}learner", code))
    no_js = _page(browser, live_lab, _signed_up(live_lab, f"{name}nojs", code), javascript=False)
    console = _page(browser, live_lab, teacher)
    learner.goto(f"{live_lab.url}/class/{code}/")
    learner.get_by_text("Waiting for your instructor").wait_for()
    console.goto(f"{live_lab.url}/teach/live/{cohort_id}/")
    console.select_option("#live-step", label=step_label)
    console.get_by_role("button", name="Start: move the class to this step").click()
    return learner, no_js, console, code


def test_it_takes_a_class_through_a_round_with_a_second_vote(live_lab, browser):
    learner, no_js, console, code = _round_open(live_lab, browser, "browser", "What does each GPU get? (predict)")

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


# Read back from the canvas: how much of a pixel row is the median's dashed line, how much of a
# row inside the band (and of one outside it) is the band's tint, so the test sees what was drawn.
# RGBA as drawn: the canvas is transparent where nothing is, the page's white shows through.
DRAWN = """el => {
  const u = el._plot, guesses = JSON.parse(document.getElementById("run-chart-data").textContent).guesses;
  const box = u.bbox;
  function share(y, rgba, tolerance) {
    const d = u.ctx.getImageData(box.left, Math.round(y), box.width, 1).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) {
      if ([0, 1, 2, 3].every(c => Math.abs(d[i + c] - rgba[c]) <= tolerance)) { n++; }
    }
    return n / (d.length / 4);
  }
  const most = (ys, rgba, tolerance) => Math.max(...ys.map(y => share(y, rgba, tolerance)));
  const median = u.valToPos(guesses.median, "y", true), low = u.valToPos(guesses.low, "y", true);
  const high = u.valToPos(guesses.high, "y", true);
  const tint = [222, 160, 30, 56], inside = [0.3, 0.5, 0.7].map(f => median + f * (low - median));
  const outside = low + 20 < box.top + box.height ? low + 20 : high - 20;
  return {line: most([median - 1, median, median + 1], [160, 112, 10, 255], 40), band: most(inside, tint, 12),
          outside: share(outside, tint, 12)};
}"""


def test_it_draws_the_class_guesses_on_the_chart_of_the_class_run(live_lab, browser):
    learner, no_js, console, code = _round_open(live_lab, browser, "chart", "Measure one all-reduce (lab)")

    learner.get_by_label("Your guess").fill("40", timeout=15_000)
    learner.get_by_role("button", name="Send my vote").click()
    learner.get_by_text("Your vote is in").wait_for()
    no_js.goto(f"{live_lab.url}/class/{code}/")
    no_js.get_by_label("Your guess").fill("400")
    no_js.get_by_role("button", name="Send my vote").click()
    no_js.get_by_text("Your vote is in").wait_for()
    console.get_by_text("2 answers of 2 learners").wait_for(timeout=15_000)
    console.get_by_role("button", name="Run the lab once for the class").click()

    chart = learner.locator('.class-run .chart[data-metric="time"]')
    chart.locator("canvas").wait_for(timeout=15_000)  # the run and its chart came over the socket
    drawn = chart.evaluate(DRAWN)
    assert drawn["line"] > 0.25 and drawn["band"] > 0.5 and drawn["outside"] < 0.05, drawn
    key = learner.locator(".class-run .chart-key").inner_text()
    assert "class median guess, 256 KiB message; class guesses, range), not measurements" in key
    learner.locator(".class-run .run-status[role=status]").wait_for()  # the status the run's socket swapped in
    assert learner.locator(".class-run").get_by_role("button", name="Cancel run").count() == 0

    no_js.reload()
    assert "median 220 µs, range 40–400." in no_js.locator(".class-spread").inner_text()
    assert "The chart needs JavaScript" in no_js.locator(".class-run").inner_text()
    console.get_by_role("button", name="End the live session").click()
    console.get_by_text("Start: move the class to this step").wait_for()


def test_it_says_the_class_connection_was_lost_and_clears_it_on_reconnect(live_lab, browser):
    _, cohort_id, code = _new_class(live_lab, "noticeteacher")
    learner = _page(browser, live_lab, _signed_up(live_lab, "noticelearner", code))
    connections = drop_first_socket(learner, f"**/ws/live/{cohort_id}/")
    learner.goto(f"{live_lab.url}/class/{code}/")
    notice = learner.locator("[data-connection-notice]")
    notice.wait_for(state="visible", timeout=10_000)
    assert "Connection to the class lost — retrying…" in notice.inner_text()
    notice.wait_for(state="hidden", timeout=30_000)
    assert len(connections) == 2
