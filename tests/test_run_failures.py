"""Failures end in a visible, explained state: a killed worker and a run that cannot start."""

import os
import signal
import time

import pytest
from websockets.sync.client import connect

from tests.live import Browserless, LiveLab
from tests.test_live_allreduce import STATUS

pytestmark = pytest.mark.live


@pytest.fixture
def impatient_lab(tmp_path):
    """A lab that calls a silent run failed after 6 s (the default is minutes)."""
    lab = LiveLab(tmp_path, stall_timeout_s=6)
    try:
        lab.start()
        yield lab
    finally:
        lab.stop()


def _final_status(lab, session, run_id, timeout_s=60):
    headers = {"Cookie": session.cookie_header(), "Origin": lab.url}
    with connect(f"ws://127.0.0.1:{lab.port}/ws/runs/{run_id}/", additional_headers=headers, open_timeout=10) as ws:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            message = ws.recv(timeout=max(0.1, deadline - time.monotonic()))
            for rid, status in STATUS.findall(message):
                if int(rid) == run_id and status not in ("queued", "running"):
                    return status, message
    raise AssertionError("the run never reached a final state")


def test_it_fails_a_run_whose_worker_was_killed_and_says_why(impatient_lab):
    lab = impatient_lab
    lab.create_user("victim", "a-live-test-password-2")
    session = Browserless(lab)
    session.login("victim", "a-live-test-password-2")
    run_id = session.start_run(op="all_reduce", min_size="1M", max_size="64M", factor="2", dtype="float32",
                               nproc="2", warmup="2", iters="100")
    deadline = time.monotonic() + 60
    while lab.query(f"ExperimentRun.objects.get(pk={run_id}).status") != "running":
        assert time.monotonic() < deadline, "the run never started"
        time.sleep(0.3)
    os.killpg(lab.worker.pid, signal.SIGKILL)  # the worker and its rank processes, no goodbye

    status, message = _final_status(lab, session, run_id)
    assert status == "failed"
    assert "stopped reporting" in message and "tplab@" in message


def test_it_fails_a_run_that_asks_for_more_ranks_than_the_node_can_give(live_lab):
    live_lab.create_user("greedy", "a-live-test-password-3")
    session = Browserless(live_lab)
    session.login("greedy", "a-live-test-password-3")
    run_id = session.start_run(op="all_reduce", min_size="1K", max_size="4K", factor="4", dtype="float32",
                               nproc="8", warmup="0", iters="1")
    status, message = _final_status(live_lab, session, run_id)
    assert status == "failed"
    assert "Invalid parameters" in message and "8" in message
