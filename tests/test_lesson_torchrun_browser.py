"""Issue 18: a learner rewrites lesson 7's torchrun command for their node and copies it, in
Chromium with JavaScript (htmx swaps the command, the Copy button copies it) and without it (the
form reloads the page with the same command; no Copy button, the text stays selectable)."""
import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.live, pytest.mark.hf]

STEP = "/lessons/hf-tp-plan/run-check/"
COMMAND = "#torchrun-command"


def _log_in(page, live_lab, username):
    page.goto(f"{live_lab.url}/accounts/login/?next={STEP}")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "pw-for-browser-tests-18")
    page.click("button[type=submit]")
    page.wait_for_url(f"**{STEP}")


def test_it_writes_and_copies_the_torchrun_command_with_and_without_javascript(live_lab, browser, screenshot):
    live_lab.manage("loadlessons")
    live_lab.create_user("torchrun-js", "pw-for-browser-tests-18")
    live_lab.create_user("torchrun-nojs", "pw-for-browser-tests-18")

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_lab.url)
    page = context.new_page()
    _log_in(page, live_lab, "torchrun-js")
    assert page.inner_text(COMMAND) == "torchrun --nproc-per-node 2 -m tpworkers.measure.hf_tp_plan"
    assert "RowParallelLinear" in page.inner_text("table.plan")
    page.fill("input[name=nproc]", "4")
    page.fill("input[name=layers]", "3")
    page.press("input[name=layers]", "Tab")  # a change re-asks the server for the fragment
    # A locator waits without eval: wait_for_function's polling evals, which the CSP refuses.
    expect(page.locator(COMMAND)).to_contain_text("--layers 3")
    command = "torchrun --nproc-per-node 4 -m tpworkers.measure.hf_tp_plan --layers 3"
    assert page.inner_text(COMMAND) == command and page.url.endswith(STEP)  # swapped in place
    page.click("button.copy")
    page.wait_for_selector("button.copy:has-text('Copied')")
    assert page.evaluate("navigator.clipboard.readText()") == command
    screenshot(page, "lesson-torchrun", full_page=True)
    context.close()

    context = browser.new_context(java_script_enabled=False, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    _log_in(page, live_lab, "torchrun-nojs")
    assert not page.is_visible("button.copy")  # nothing to press without a script
    page.fill("input[name=nproc]", "8")
    page.click("text=Write the command")
    page.wait_for_url("**run-check/?nproc=8&layers=2")
    assert page.inner_text(COMMAND) == "torchrun --nproc-per-node 8 -m tpworkers.measure.hf_tp_plan"
    page.fill("input[name=nproc]", "6")
    page.click("text=Write the command")
    page.wait_for_url("**?nproc=6&layers=2")
    assert "16 heads are not divisible by TP=6" in page.inner_text("#torchrun-result")
    context.close()
