"""A class watching one run: several websockets on two daphne processes behind one Redis channel
layer (how a class would be served), each of which must receive every row and the final status.
The real pieces: a private Redis, a real lab worker (Celery), daphne twice."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from labapp.redis_server import free_port
from labapp.runner import wait_until_ready, web_server_command
from tests.live import Browserless
from tests.test_live_allreduce import SLOW_SWEEP, SMALL_SWEEP, _listen

pytestmark = pytest.mark.live

WATCHERS_PER_PROCESS = 4


def _second_web_server(lab) -> int:
    """Another daphne on the same database and Redis, as `lab.py run` documents for a class."""
    port = free_port()
    lab.children.start("second web server", web_server_command("127.0.0.1", port), lab.env)
    wait_until_ready(lab.children, lab.redis, "127.0.0.1", port, threading.Event())
    return port


class _OnPort:
    """The live lab as seen through one web server's port."""

    def __init__(self, lab, port: int):
        self.port, self.url = port, f"http://127.0.0.1:{port}"


def test_it_streams_every_row_to_every_watcher_on_either_web_process(live_lab):
    live_lab.create_user("class", "a-live-test-password-20")
    session = Browserless(live_lab)
    session.login("class", "a-live-test-password-20")
    ports = [live_lab.port, _second_web_server(live_lab)]
    # A long sweep keeps the worker busy, so the watched run is still queued while the class
    # connects: every one of its rows then arrives live.
    busy_run = session.start_run(**SLOW_SWEEP)
    run_id = session.start_run(**SMALL_SWEEP)

    watchers = [_OnPort(live_lab, port) for port in ports for _ in range(WATCHERS_PER_PROCESS)]
    with ThreadPoolExecutor(len(watchers)) as pool:
        results = list(pool.map(lambda where: _listen(where, session, run_id, timeout_s=240), watchers))

    planned = live_lab.query(f"len(ExperimentRun.objects.get(pk={run_id}).planned_rows())")
    for where, (fragments, rows, status) in zip(watchers, results):
        assert status == "done", (where.port, fragments[-1])
        assert rows == set(range(planned)), (where.port, sorted(rows))
    assert live_lab.query(f"ExperimentRun.objects.get(pk={busy_run}).status") in ("done", "running")
