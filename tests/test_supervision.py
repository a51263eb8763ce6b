"""`python3 lab.py run` keeps serving through a crash: a killed part comes back on its own and
serves, a run keeps measuring while the web server restarts, queued runs survive a worker
restart (re-queued from the database), a stopped rank is named within seconds, and Cancel ends
a hung run."""

import os
import re
import signal
import sqlite3
import threading
import time
import urllib.request
from contextlib import closing
from types import SimpleNamespace

import pytest

from tests.live import Browserless
from tests.test_runner import _command_lines, _read_until_running, _runner, descendants

pytestmark = pytest.mark.live

LONG_SWEEP = {"op": "all_reduce", "min_size": "1K", "max_size": "16M", "factor": "2", "dtype": "float32",
              "nproc": "2", "warmup": "1", "iters": "40"}
TINY_SWEEP = {**LONG_SWEEP, "max_size": "4K", "iters": "1"}


def _pid_of(lab_pid: int, needle: str) -> int:
    pids = sorted(pid for pid in descendants(lab_pid) if needle in " ".join(_command_lines([pid])))
    assert pids, f"no {needle} process under the runner"
    return pids[0]


def _ranks(worker_pid: int) -> list[int]:
    """The worker's rank processes, rank 0 first (started in rank order)."""
    return sorted(pid for pid in descendants(worker_pid) if "spawn_main" in " ".join(_command_lines([pid])))


def _runs(tmp_path) -> dict[int, tuple[str, str, int]]:
    with closing(sqlite3.connect(tmp_path / "lab.sqlite3")) as db:
        rows = db.execute("SELECT r.id, r.status, r.error, (SELECT count(*) FROM tpworkers_measurement m "
                          "WHERE m.run_id = r.id) FROM tpworkers_experimentrun r").fetchall()
    return {pk: (status, error, measured) for pk, status, error, measured in rows}


def _wait(condition, timeout_s: float, what: str, every_s: float = 0.2):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(every_s)
    raise AssertionError(f"not within {timeout_s} s: {what}")


def _serves(url: str) -> bool:
    try:
        return urllib.request.urlopen(url + "accounts/login/", timeout=5).status == 200
    except OSError:
        return False


@pytest.fixture
def lab(tmp_path):
    process = _runner(tmp_path, "--port", "0", TPLAB_MAX_ACTIVE_RUNS_PER_LEARNER="10")
    output, url = _read_until_running(process)
    password = re.search(r"password '([^']+)'", "".join(output)).group(1)
    session = Browserless(SimpleNamespace(url=url.rstrip("/")))
    session.login("instructor", password)
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True)  # what it prints next
    reader.start()
    yield SimpleNamespace(process=process, url=url, session=session, lines=lines, tmp_path=tmp_path,
                          said=lambda text: any(text in line for line in list(lines)))
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=90)
    reader.join(5)


def test_a_killed_worker_comes_back_queued_runs_survive_and_its_run_fails_naming_it(lab):
    worker = _pid_of(lab.process.pid, "labworker")
    running = lab.session.start_run(**LONG_SWEEP)
    waiting = [lab.session.start_run(**TINY_SWEEP) for _ in range(3)]
    _wait(lambda: _runs(lab.tmp_path)[running][2] >= 1, 120, "the first row of the long run")
    os.kill(worker, signal.SIGKILL)

    _wait(lambda: lab.said("Restarting the lab worker"), 20, "the runner restarting the worker")
    assert lab.said("The lab worker was killed by signal 9 (Killed)")
    runs = _wait(lambda: (lambda r: all(r[pk][0] == "done" for pk in waiting) and r)(_runs(lab.tmp_path)), 180,
                 "the queued runs done by the new worker")
    assert runs[running][0] == "failed"
    assert "the lab worker was killed by signal 9 (Killed); the lab restarted it" in runs[running][1]
    assert _pid_of(lab.process.pid, "labworker") != worker
    assert _serves(lab.url)  # the web server never stopped
    assert not [name for name in os.listdir("/tmp") if name.startswith(f"tplab-ranks-{worker}-")]


def test_a_run_keeps_measuring_while_the_web_server_restarts_and_a_stopped_rank_is_named(lab):
    run = lab.session.start_run(**LONG_SWEEP)
    _wait(lambda: _runs(lab.tmp_path)[run][2] >= 1, 120, "the first row")
    os.kill(_pid_of(lab.process.pid, "daphne"), signal.SIGKILL)
    _wait(lambda: lab.said("Restarting the web server"), 20, "the runner restarting daphne")
    _wait(lambda: _serves(lab.url), 60, "the web server serving again")
    status, error, measured = _wait(lambda: (lambda r: r[0] in ("done", "failed") and r)(_runs(lab.tmp_path)[run]),
                                    300, "the run ending")
    assert (status, error) == ("done", ""), error

    hung = lab.session.start_run(**LONG_SWEEP)
    _wait(lambda: _runs(lab.tmp_path)[hung][2] >= 1, 120, "the first row of the second run")
    os.kill(_ranks(_pid_of(lab.process.pid, "labworker"))[1], signal.SIGSTOP)
    stopped_at = time.monotonic()
    status, error, _ = _wait(lambda: (lambda r: r[0] != "running" and r)(_runs(lab.tmp_path)[hung]), 30,
                             "the run with a stopped rank ending", every_s=0.1)
    assert time.monotonic() - stopped_at < 5 + 5  # the heartbeat timeout, and a busy machine's slack
    assert status == "failed" and error.startswith("rank 1 stopped answering"), error


def test_a_cancel_ends_a_run_whose_rank_hangs_and_redis_comes_back_with_its_users(lab):
    run = lab.session.start_run(**LONG_SWEEP)
    _wait(lambda: _runs(lab.tmp_path)[run][2] >= 1, 120, "the first row")
    os.kill(_ranks(_pid_of(lab.process.pid, "labworker"))[1], signal.SIGSTOP)
    asked = time.monotonic()
    lab.session.post(f"/lab/runs/{run}/cancel/", {})
    status, _, _ = _wait(lambda: (lambda r: r[0] != "running" and r)(_runs(lab.tmp_path)[run]), 30,
                         "the cancelled run ending", every_s=0.1)
    assert time.monotonic() - asked < 5
    assert status in ("cancelled", "failed")  # whichever noticed first: the cancel or the heartbeat

    os.kill(_pid_of(lab.process.pid, "redis-server"), signal.SIGKILL)
    _wait(lambda: lab.said("Restarting the private redis-server"), 20, "the runner restarting Redis")
    _wait(lambda: lab.said("The lab worker is ready again"), 120, "the worker back")
    _wait(lambda: _serves(lab.url), 60, "the web server serving again")
    after = lab.session.start_run(**TINY_SWEEP)
    _wait(lambda: _runs(lab.tmp_path)[after][0] == "done", 120, "a run after Redis came back")
