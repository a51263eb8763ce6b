"""A learner finishes lesson 1 in Chromium, rates a card Again, sees it due in the navigation
and answers it at /review/ (htmx); then, with JavaScript off, answers a new item."""
import re

import pytest

LESSON = "/lessons/what-tp-splits"


def log_in(page, url, next_path):
    page.goto(f"{url}/accounts/login/?next={next_path}")
    page.fill("input[name=username]", "rhea")
    page.fill("input[name=password]", "pw-for-browser-tests-7")
    page.click("button[type=submit]")


def predict(page, url, key, answer):
    page.goto(f"{url}{LESSON}/{key}/")
    answer(page)
    page.click("text=Commit my guess")
    page.wait_for_selector("text=Your first guess, kept for good")
    page.click("text=Reveal the answer")
    page.wait_for_selector(".revealed")


def rate(page, url, key, rating):
    page.goto(f"{url}{LESSON}/{key}/")
    page.click("text=Show the answer")
    page.click(f"button.rating.{rating}")
    page.wait_for_selector("text=it goes into your review queue")


@pytest.mark.browser
@pytest.mark.live
def test_it_finishes_lesson_one_rates_a_card_again_and_answers_it_in_the_queue(live_lab, browser):
    live_lab.manage("loadlessons")
    live_lab.create_user("rhea", "pw-for-browser-tests-7")
    url = live_lab.url
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    log_in(page, url, f"{LESSON}/")
    page.wait_for_url(f"**{LESSON}/intro/")
    for key in ("column-row", "heads", "shard-calculator"):
        page.goto(f"{url}{LESSON}/{key}/")
    predict(page, url, "what-is-split", lambda p: p.check("input[value=weights]"))
    predict(page, url, "gate-columns", lambda p: p.fill("input[name=value]", "7168"))
    predict(page, url, "why-alternate", lambda p: p.check("input[value=nonlinear]"))
    predict(page, url, "order-mlp", lambda p: [p.select_option(f"select[name=pos_{k}]", str(i))
                                               for i, k in enumerate(["colwise", "act", "rowwise", "allreduce"], 1)])
    rate(page, url, "recall-col-row", "again")
    rate(page, url, "recall-heads", "good")
    page.goto(f"{url}{LESSON}/teach/")
    page.fill("textarea[name=text]", "TP splits weight matrices, column then row parallel, one all-reduce.")
    page.click("text=Save my explanation")
    page.wait_for_selector("text=A model answer")

    page.goto(f"{url}/lessons/")
    assert "11 of 11 steps done" in page.inner_text(".lesson-list li:first-child")  # lesson 1 finished
    assert page.inner_text("#nav-review") == "Review 1 due"

    page.click("#nav-review")
    page.wait_for_url("**/review/")
    assert "Which dimension does a column-parallel layer split" in page.inner_text("#review")
    page.click("text=Show the answer")
    page.click("button.rating.good")
    page.wait_for_selector("text=Rated Good")  # swapped in by htmx: the URL stays /review/
    assert page.url.endswith("/review/")
    assert page.inner_text("#nav-review") == "Review"  # the count went with the answer (out-of-band swap)

    plain = browser.new_context(java_script_enabled=False).new_page()
    log_in(plain, url, "/review/")
    plain.wait_for_url("**/review/")
    assert "New in your queue" in plain.inner_text("#review")
    assert "What does each GPU get?" in plain.inner_text("#review")  # course order: lesson 1's first
    plain.check("input[value=weights]")
    plain.click("text=Check my answer")
    plain.wait_for_url("**/review/reviewed/*/")
    result = plain.inner_text("#review")
    assert "right" in plain.inner_text(".versus") and re.search(r"Rated (Easy|Good) by the rule", result), result
    plain.click("text=Next item →")
    plain.wait_for_url("**/review/")
    assert "New in your queue" in plain.inner_text("#review")
    counts = live_lab.manage("shell", "-c", (
        "from lessons.review.models import *; mine = ReviewLog.objects.filter(learner__username='rhea'); "
        "print(mine.filter(source='lesson').count(), mine.filter(source='queue').count())")).strip().splitlines()[-1].split()
    assert counts == ["2", "2"]
