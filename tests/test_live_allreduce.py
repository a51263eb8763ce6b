"""End to end through the real pieces: a private Redis, a real lab worker (Celery), daphne, and a
websocket client that must receive every measurement of a small gloo sweep."""

import json
import re
import time
import urllib.request

import pytest
from websockets.sync.client import connect

from tests.live import Browserless

pytestmark = pytest.mark.live

SMALL_SWEEP = {"op": "all_reduce", "min_size": "1K", "max_size": "256K", "factor": "4",
               "dtype": "float32", "nproc": "2", "warmup": "1", "iters": "3"}
SLOW_SWEEP = {**SMALL_SWEEP, "max_size": "64M", "iters": "5"}
ROW_ID = re.compile(r'id="run-(\d+)-row-(\d+)" class="measured"')
STATUS = re.compile(r'id="run-(\d+)-status" class="run-status (\w+)"')


def _listen(lab, session, run_id, timeout_s=120):
    """Collect fragments until the run's status is final; return (fragments, measured row numbers)."""
    fragments, rows, status = [], set(), None
    headers = {"Cookie": session.cookie_header(), "Origin": lab.url}
    with connect(f"ws://127.0.0.1:{lab.port}/ws/runs/{run_id}/", additional_headers=headers,
                 open_timeout=10) as socket:
        deadline = time.monotonic() + timeout_s
        while status not in ("done", "failed", "cancelled"):
            message = socket.recv(timeout=max(0.1, deadline - time.monotonic()))
            fragments.append(message)
            rows |= {int(seq) for rid, seq in ROW_ID.findall(message) if int(rid) == run_id}
            status = next((s for rid, s in STATUS.findall(message) if int(rid) == run_id), status)
    return fragments, rows, status


def test_it_streams_every_measurement_of_a_gloo_sweep_to_a_websocket(live_lab):
    live_lab.create_user("stream", "a-live-test-password-1")
    session = Browserless(live_lab)
    session.login("stream", "a-live-test-password-1")
    # A long sweep first keeps the worker busy, so the second run is still queued when we
    # subscribe: every one of its rows must then arrive live, one message per row.
    busy_run = session.start_run(**SLOW_SWEEP)
    run_id = session.start_run(**SMALL_SWEEP)

    fragments, rows, status = _listen(live_lab, session, run_id)

    planned = live_lab.query("__import__('tpworkers.measure.configs', fromlist=['SweepConfig']).SweepConfig"
                             f".from_params(ExperimentRun.objects.get(pk={run_id}).params).sizes()")
    assert status == "done", fragments[-1]
    assert rows == set(range(len(planned)))  # 1K, 4K, 16K, 64K, 256K
    assert "queued" in fragments[0]  # the snapshot: still waiting behind the busy run, no rows yet
    row_messages = [f for f in fragments if ROW_ID.search(f)]
    assert len(row_messages) == len(planned)  # streamed one by one, not in a batch at the end
    assert all(f.lstrip().startswith("<tr") for f in row_messages)

    saved = live_lab.query(f"list(Measurement.objects.filter(run_id={run_id}).values_list('data', flat=True))")
    assert [row["size_bytes"] for row in saved] == planned
    assert all(row["wrong"] == 0 and row["time_us"] > 0 and row["busbw_GBps"] > 0 for row in saved)
    assert live_lab.query(f"ExperimentRun.objects.get(pk={busy_run}).status") == "done"


def test_it_reports_the_worker_and_gpu_reason_in_healthz(live_lab):
    live_lab.create_user("health", "a-live-test-password-2")
    session = Browserless(live_lab)  # the details are for logged-in users; strangers get ok only
    session.login("health", "a-live-test-password-2")
    deadline = time.monotonic() + 30
    while True:
        try:
            body = json.load(session.get("/healthz"))
        except urllib.error.HTTPError as error:
            body = json.load(error)
        if body["celery"]["ok"] or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert body["ok"] is True, body
    assert any(name.startswith("tplab@") for name in body["celery"]["workers"])
    gpus = body["gpus"]
    if gpus["count"]:  # a GPU machine: NVML's records
        assert len(gpus["gpus"]) == gpus["count"] and all(gpu["uuid"] for gpu in gpus["gpus"])
    else:
        assert "NVML" in gpus["reason"]


def test_it_refuses_a_websocket_without_a_session(live_lab):
    from websockets.exceptions import ConnectionClosed, InvalidStatus

    live_lab.create_user("owner", "a-live-test-password-4")
    session = Browserless(live_lab)
    session.login("owner", "a-live-test-password-4")
    run_id = session.start_run(**{**SMALL_SWEEP, "max_size": "4K"})
    url = f"ws://127.0.0.1:{live_lab.port}/ws/runs/{run_id}/"
    owner_headers = {"Cookie": session.cookie_header(), "Origin": live_lab.url}
    with connect(url, additional_headers=owner_headers, open_timeout=10) as owner:
        assert f"run-{run_id}-status" in owner.recv(timeout=10)  # the run exists and its owner may watch

    with pytest.raises((InvalidStatus, ConnectionClosed)):
        with connect(url, additional_headers={"Origin": live_lab.url}, open_timeout=10) as anonymous:
            anonymous.recv(timeout=10)
