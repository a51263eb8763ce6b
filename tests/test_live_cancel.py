"""Cancelling a running run through the real worker: it stops after the size in flight."""

import time

import pytest

from tests.live import Browserless
from tests.test_run_failures import _final_status

pytestmark = pytest.mark.live


def test_it_cancels_a_running_sweep_and_keeps_the_rows_measured_so_far(live_lab):
    live_lab.create_user("quitter", "a-live-test-password-4")
    session = Browserless(live_lab)
    session.login("quitter", "a-live-test-password-4")
    run_id = session.start_run(op="all_reduce", min_size="1K", max_size="64M", factor="2", dtype="float32",
                               nproc="2", warmup="1", iters="30")
    deadline = time.monotonic() + 60
    while live_lab.query(f"Measurement.objects.filter(run_id={run_id}).count()") < 2:
        assert time.monotonic() < deadline, "no rows were measured"
        time.sleep(0.2)
    session.post(f"/lab/runs/{run_id}/cancel/", {})

    status, message = _final_status(live_lab, session, run_id)
    assert status == "cancelled"
    assert "Cancelled while running" in message
    measured = live_lab.query(f"Measurement.objects.filter(run_id={run_id}).count()")
    planned = len(live_lab.query(f"ExperimentRun.objects.get(pk={run_id}).params['sizes']"))
    assert 2 <= measured < planned
