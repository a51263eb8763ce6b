"""Cancelling a running run through the real worker: it stops after the size in flight."""

import time

import pytest
from websockets.sync.client import connect

from tests.live import Browserless
from tests.test_live_allreduce import ROW_ID, STATUS

pytestmark = pytest.mark.live


def test_it_cancels_a_running_sweep_and_keeps_the_rows_measured_so_far(live_lab):
    live_lab.create_user("quitter", "a-live-test-password-4")
    session = Browserless(live_lab)
    session.login("quitter", "a-live-test-password-4")
    run_id = session.start_run(op="all_reduce", min_size="1K", max_size="64M", factor="2", dtype="float32",
                               nproc="2", warmup="1", iters="30")
    # Watch the run's own websocket (a query through manage.py can take seconds on a busy
    # machine, long enough for the sweep to finish): cancel once two rows have arrived.
    headers = {"Cookie": session.cookie_header(), "Origin": live_lab.url}
    rows, status, cancelled = set(), None, False
    with connect(f"ws://127.0.0.1:{live_lab.port}/ws/runs/{run_id}/", additional_headers=headers,
                 open_timeout=10) as ws:
        deadline = time.monotonic() + 120
        while status not in ("done", "failed", "cancelled"):
            message = ws.recv(timeout=max(0.1, deadline - time.monotonic()))
            rows |= {int(seq) for rid, seq in ROW_ID.findall(message) if int(rid) == run_id}
            status = next((s for rid, s in STATUS.findall(message) if int(rid) == run_id), status)
            if len(rows) >= 2 and not cancelled:
                session.post(f"/lab/runs/{run_id}/cancel/", {})
                cancelled = True
        final = message

    assert status == "cancelled"
    assert "Cancelled while running" in final
    measured = live_lab.query(f"Measurement.objects.filter(run_id={run_id}).count()")
    planned = live_lab.query(f"len(ExperimentRun.objects.get(pk={run_id}).planned_rows())")
    assert 2 <= measured < planned
