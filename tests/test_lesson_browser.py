"""A learner takes lesson 1 in Chromium against the real lab (daphne, worker, Redis)."""
import pytest
from playwright.sync_api import expect


@pytest.mark.browser
@pytest.mark.live
def test_it_walks_lesson_one_from_guess_to_the_next_lesson(live_lab, browser, screenshot):
    live_lab.manage("loadlessons")
    live_lab.create_user("lena", "pw-for-browser-tests-1")
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    console_errors = []
    page.on("console", lambda message: console_errors.append(message.text) if message.type == "error" else None)
    page.goto(f"{live_lab.url}/accounts/login/?next=/lessons/what-tp-splits/")
    page.fill("input[name=username]", "lena")
    page.fill("input[name=password]", "pw-for-browser-tests-1")
    page.click("button[type=submit]")
    page.wait_for_url("**/lessons/what-tp-splits/intro/")
    page.click("a[rel=next]")  # htmx swaps the lesson column and pushes the URL
    page.wait_for_url("**/what-is-split/")

    page.click("text=Reveal the answer")  # no guess yet: the server refuses
    page.wait_for_selector("text=Commit a guess first")
    page.check("input[value=requests]")
    page.click("text=Commit my guess")
    page.wait_for_selector("text=Your first guess, kept for good")
    page.click("text=Reveal the answer")
    page.wait_for_selector("text=TP cuts the")
    assert "not quite" in page.inner_text("#step")
    screenshot(page, "lesson-reveal", full_page=True)

    page.goto(f"{live_lab.url}/lessons/what-tp-splits/column-row/")
    definition = page.locator(".term-def").first
    assert definition.bounding_box()["width"] <= 1  # hidden until asked for
    page.keyboard.press("Tab")
    while not page.evaluate("document.activeElement.classList.contains('term')"):
        page.keyboard.press("Tab")  # the keyboard reaches the first glossary term
    assert definition.bounding_box()["width"] > 100 and definition.is_visible()
    screenshot(page, "lesson-glossary-focus", full_page=True)

    page.goto(f"{live_lab.url}/lessons/what-tp-splits/recall-col-row/")
    page.click("text=Show the answer")
    page.click("button.rating.good")
    page.wait_for_selector("text=it goes into your review queue")

    page.goto(f"{live_lab.url}/lessons/what-tp-splits/shard-calculator/")
    page.fill("input[name=tp]", "8")
    page.click("text=Calculate")
    expect(page.locator("#calc-result")).to_contain_text("1,024")  # no eval: the CSP refuses it
    screenshot(page, "lesson-calculator", full_page=True)

    page.goto(f"{live_lab.url}/lessons/what-tp-splits/teach/")
    page.fill("textarea[name=text]", "TP splits weight matrices, column then row parallel, one all-reduce.")
    page.click("text=Save my explanation")
    page.wait_for_selector("text=A model answer")
    page.check("input[name=item][value='0']")
    page.click("text=Save my ticks")
    page.wait_for_selector("text=1 of 5 ticked")
    screenshot(page, "lesson-teachback", full_page=True)

    page.click("text=Next lesson: The all-reduce tax")
    page.wait_for_url("**/lessons/all-reduce-tax/count/")
    assert "The all-reduce tax" in page.inner_text("h1")
    # htmx injected its indicator <style> on every page, which the CSP refused, once a page.
    assert [e for e in console_errors if "Content Security Policy" in e] == []
    counts = live_lab.manage("shell", "-c", (
        "from lessons.models import *; print(Guess.objects.count(), Reveal.objects.count(), "
        "RecallRating.objects.count(), TeachBack.objects.count())")).strip().splitlines()[-1].split()
    assert counts == ["1", "1", "1", "1"]
