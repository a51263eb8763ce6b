"""Lesson 4's lab on the real worker: the run button's fields start the sharded MLP at TP=1/2/4,
and the step then sets the measured communication share beside the guess."""
import html
import re

import pytest

from tests.live import Browserless
from tests.test_lesson_lab import run_button_fields
from tests.test_run_failures import _final_status

pytestmark = pytest.mark.live

STEP = "/lessons/tp-or-replicas/lab-mlp/"


def test_it_measures_the_sharded_mlp_the_step_asked_about(live_lab):
    live_lab.manage("loadlessons")
    live_lab.create_user("mlp-learner", "a-live-test-password-7")
    session = Browserless(live_lab)
    session.login("mlp-learner", "a-live-test-password-7")
    session.post(STEP + "guess/", {"value": "40"})
    fields = run_button_fields(session.get(STEP).read().decode())
    response = session.post("/lab/runs/", fields)
    run_id = int(re.search(r"/lab/runs/(\d+)/$", response.geturl()).group(1))

    assert _final_status(live_lab, session, run_id, timeout_s=120)[0] == "done"
    rows = live_lab.query(f"[m.data for m in Measurement.objects.filter(run_id={run_id})]")
    assert [(r["tp"], r["collectives"]) for r in rows] == [(1, 0), (2, 1), (4, 1)]  # one all-reduce per MLP
    tp4 = rows[2]
    page = html.unescape(session.get(STEP).read().decode())
    measured = re.search(r'<td class="measured-value"><strong>([^<]*)</strong>', page).group(1)
    share = 100 * tp4["comm_us"] / tp4["forward_us"]
    assert measured.endswith(" %") and abs(float(measured[:-2].replace(",", "")) - share) <= 0.01 * share + 0.05
    assert page.count("TP=4</td>") == 1 and "Your prediction" in page
