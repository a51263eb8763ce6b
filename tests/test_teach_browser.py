"""The instructor's dashboard in Chromium against the real lab: an instructor creates a cohort,
two learners join (one by the link with JavaScript, one by typing the code without it) and
answer, and the instructor sees the class's distribution and its misconception."""
import re

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.live]


def log_in(browser, live_lab, username: str, password: str, next_path: str, javascript: bool = True):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, java_script_enabled=javascript)
    page = context.new_page()
    page.goto(f"{live_lab.url}/accounts/login/?next={next_path}")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"**{next_path}")
    return page


def answer(page, live_lab, choice: str, value: str) -> None:
    page.goto(f"{live_lab.url}/lessons/what-tp-splits/what-is-split/")
    page.check(f"input[value={choice}]")
    page.click("text=Commit my guess")
    page.wait_for_selector("text=Your first guess, kept for good")
    page.goto(f"{live_lab.url}/lessons/all-reduce-tax/bytes/")
    page.fill("input[name=value]", value)
    page.click("text=Commit my guess")
    page.wait_for_selector("text=Your first guess, kept for good")


def test_it_shows_the_instructor_how_the_class_answered(live_lab, browser, screenshot):
    live_lab.manage("loadlessons")
    live_lab.create_user("teach-b", "pw-for-browser-tests-16", staff=True)
    live_lab.create_user("lin", "pw-for-browser-tests-17")
    live_lab.create_user("max", "pw-for-browser-tests-18")

    teacher = log_in(browser, live_lab, "teach-b", "pw-for-browser-tests-16", "/teach/")
    teacher.fill("input[name=name]", "Browser class")
    teacher.click("text=Create the cohort")
    teacher.wait_for_selector("text=learners join with the code")
    code = teacher.inner_text("h1 .code-badge").strip()
    cohort_url = teacher.url

    lin = log_in(browser, live_lab, "lin", "pw-for-browser-tests-17", f"/join/{code}/")
    assert "What your instructor sees" in lin.inner_text("main")
    lin.click("button:has-text('Join Browser class')")
    lin.wait_for_selector("text=You joined Browser class.")
    answer(lin, live_lab, "requests", "128")

    max_ = log_in(browser, live_lab, "max", "pw-for-browser-tests-18", "/classes/", javascript=False)
    max_.fill("input[name=code]", code.lower())
    max_.click("button:has-text('Join')")
    max_.click("button:has-text('Join Browser class')")
    max_.wait_for_selector("text=You joined Browser class.")
    answer(max_, live_lab, "weights", "128")

    teacher.goto(cohort_url)
    assert teacher.locator("table.matrix tbody tr").count() == 2
    teacher.click("text=most steps done first")  # htmx swaps the matrix and keeps the URL
    teacher.wait_for_url("**sort=progress**")
    teacher.goto(cohort_url + "answers/")
    card = teacher.locator("section.answers", has_text="What does each GPU get?")
    assert "2 answered" in card.inner_text() and "1 right first time" in card.inner_text()
    bars = card.locator("ul.choice-bars li").all_inner_texts()
    assert any(re.match(r"1\s+Its share of the incoming requests", text) for text in bars)
    assert any(re.match(r"1\s+A slice of every weight matrix", text) for text in bars)
    numeric = teacher.locator("section.answers", has_text="256 KiB").first
    assert numeric.locator("svg rect.bin").count() == 1 and numeric.locator("svg line.answer").count() == 1
    screenshot(teacher, "teach-answers", full_page=False)
    screenshot(numeric, "teach-histogram")

    teacher.click("text=Misconceptions")
    teacher.wait_for_url("**/misconceptions/")
    rows = teacher.locator("table.misconceptions tbody tr").all_inner_texts()
    assert rows[0].startswith("128 KiB") and "2" in rows[0]
    assert rows[1].startswith("Its share of the incoming requests")
    screenshot(teacher, "teach-misconceptions", full_page=False)
