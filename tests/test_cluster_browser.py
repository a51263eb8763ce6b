"""A learner in Chromium describes a machine that runs no worker by pasting nvidia-smi output,
adds the worked scenario's deployment, reads the findings; and measures the lab's own node."""
import pytest

from tests.test_cluster_support import NVSMI, WORKED_LINE

pytestmark = [pytest.mark.browser, pytest.mark.live]


def log_in(live_lab, browser):
    live_lab.create_user("clusters", "a-browser-test-password")
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.goto(live_lab.url + "/accounts/login/")
    page.fill("input[name=username]", "clusters")
    page.fill("input[name=password]", "a-browser-test-password")
    page.click("button[type=submit]")
    return page


def paste_topology(page, name):
    page.fill(".topology-paste input[name=hostname]", "nvl4")
    page.fill(".topology-paste textarea", (NVSMI / name).read_text())
    page.get_by_role("button", name="Read and merge").click()


def test_it_builds_the_worked_scenario_from_pasted_text_and_measures_the_local_node(live_lab, browser, screenshot):
    page = log_in(live_lab, browser)
    page.goto(live_lab.url + "/clusters/")
    page.fill("input[name=name]", "h100-nvl-rack")
    page.get_by_role("button", name="Add cluster").click()
    page.wait_for_selector("h1:has-text('Cluster clusters/h100-nvl-rack')")

    page.fill(".topology-paste input[name=hostname]", "nvl4")
    page.fill(".topology-paste textarea", "GPU0\tGPU1\nGPU0\t X \tQPI\nGPU1\tQPI\t X \n")
    page.get_by_role("button", name="Read and merge").click()  # htmx swaps the box alone
    page.wait_for_selector(".parse-error")
    assert "Line 2: unknown cell value 'QPI'" in page.inner_text(".parse-error")
    assert "QPI" in page.input_value(".topology-paste textarea")

    paste_topology(page, "h100-nvl-4gpu-link-down.topo-m.txt")
    page.wait_for_selector("table.topo")
    paste_topology(page, "h100-nvl-4gpu-link-down.nvlink-s.txt")
    page.wait_for_selector("tr.link-down")
    page.fill(".deployment-paste textarea", WORKED_LINE)
    page.get_by_role("button", name="Add pasted deployments").click()
    page.wait_for_selector("text=This TP group's all-reduces cross PCIe")
    assert page.locator(".finding.critical").count() == 2
    assert page.locator(".finding .prov.modelled").count() >= 3
    assert page.text_content("section.node .node-state") == "pasted (no worker)"  # no worker, not "offline"
    screenshot(page.locator("section.node").first, "cluster-page")

    page.goto(live_lab.url + "/clusters/")
    page.get_by_role("link", name="local").click()
    page.wait_for_selector(".node-state.online")
    page.get_by_role("button", name="Measure all pairs").click()
    page.wait_for_url("**/pair-runs/")
    assert "This node has no GPUs" in page.content() or page.locator("td:has-text('GPU')").count() > 0
    page.locator("table.pair-runs a").first.click()
    page.wait_for_url("**/lab/runs/*/")
