"""`python3 lab.py run` starts everything, prints the URL last, explains any failure, and Ctrl-C
stops every process it started, rank processes included (tests/test_supervision.py: a part that
dies is restarted)."""

import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path
from types import SimpleNamespace

import pytest

from labapp.runner import served_names, urls
from tests.live import Browserless

ROOT = Path(__file__).resolve().parent.parent
RUNNING_AT = re.compile(r"TP Lab is running at (http://127\.0\.0\.1:(\d+)/)")
TINY_SWEEP = {"op": "all_reduce", "min_size": "1K", "max_size": "4K", "factor": "4", "dtype": "float32",
              "nproc": "2", "warmup": "0", "iters": "1"}


def _parents() -> dict[int, int]:
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)] = int(fields[1])
    return parents


def descendants(pid: int) -> set[int]:
    parents = _parents()
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _command_lines(pids) -> list[str]:
    lines = []
    for pid in pids:
        try:
            lines.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except OSError:
            pass
    return lines


def _runner(tmp_path, *args, **env_extra) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 'lab.sqlite3'}", TPLAB_STATE_DIR=str(tmp_path / "state"),
               **env_extra)
    return subprocess.Popen([sys.executable, "-m", "labapp.runner", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _read_until_running(lab: subprocess.Popen) -> tuple[list[str], str]:
    output, url = [], None
    deadline = time.monotonic() + 180
    while url is None and time.monotonic() < deadline and lab.poll() is None:
        line = lab.stdout.readline()
        output.append(line)
        found = RUNNING_AT.search(line)
        url = found and found.group(1)
    assert url, "".join(output)
    return output, url


def _wait_for_a_finished_run(tmp_path, lab_pid: int, timeout_s: float = 180) -> set[int]:
    """Until the run is done and its rank processes (kept warm by the worker) are seen."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with closing(sqlite3.connect(tmp_path / "lab.sqlite3")) as db:
            status = db.execute("SELECT status FROM tpworkers_experimentrun").fetchone()[0]
        started = descendants(lab_pid)
        ranks = [line for line in _command_lines(started) if "spawn_main" in line]
        if status == "done" and len(ranks) >= 2:
            return started
        assert status not in ("failed", "cancelled"), status
        time.sleep(0.5)
    raise AssertionError(f"the run did not finish with its ranks alive within {timeout_s} s")


def _measured(tmp_path, run_id: int) -> int:
    with closing(sqlite3.connect(tmp_path / "lab.sqlite3")) as db:
        return db.execute("SELECT count(*) FROM tpworkers_measurement WHERE run_id = ?", (run_id,)).fetchone()[0]


@pytest.mark.live
def test_it_starts_the_lab_prints_the_url_last_and_ctrl_c_leaves_nothing_behind(tmp_path):
    lab = _runner(tmp_path, "--port", "0")
    output, url = _read_until_running(lab)
    port = int(re.search(r":(\d+)/$", url).group(1))
    text = "".join(output)
    password = re.search(r"Instructor account created: username 'instructor', password '([^']+)'", text).group(1)
    assert re.search(r"lab worker \| tplab@\S+ ready\.\n", text)  # the URL comes after the worker is ready
    assert "[tasks]" not in text  # the worker's banner is held back

    session = Browserless(SimpleNamespace(url=url.rstrip("/")))
    session.login("instructor", password)
    session.start_run(**TINY_SWEEP)  # through the real worker: it leaves warm rank processes
    started = _wait_for_a_finished_run(tmp_path, lab.pid)
    names = _command_lines(started)
    assert any("redis-server" in name for name in names), names
    assert any("labworker" in name for name in names), names
    assert any("daphne" in name for name in names), names

    measuring = session.start_run(**{**TINY_SWEEP, "max_size": "16M", "factor": "2", "iters": "40"})
    deadline = time.monotonic() + 120
    while not _measured(tmp_path, measuring) and time.monotonic() < deadline:
        time.sleep(0.2)
    started |= descendants(lab.pid)
    lab.send_signal(signal.SIGINT)  # what Ctrl-C sends
    rest = lab.communicate(timeout=60)[0]
    assert lab.returncode == 0, rest
    assert "Stopped every process the lab started." in rest
    with closing(sqlite3.connect(tmp_path / "lab.sqlite3")) as db:
        status, error = db.execute("SELECT status, error FROM tpworkers_experimentrun WHERE id = ?",
                                   (measuring,)).fetchone()
    # the run in flight names what stopped it, not the signal its ranks would have died of
    assert (status, error.split(" while")[0]) == ("failed", "The lab was stopped (Ctrl-C on python3 lab.py run)")
    assert [pid for pid in started if _alive(pid)] == []
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1)


def test_it_refuses_a_port_another_server_holds(tmp_path):
    with socket.socket() as other_server:
        other_server.bind(("127.0.0.1", 0))
        other_server.listen()
        port = other_server.getsockname()[1]
        lab = _runner(tmp_path, "--port", str(port))
        output = lab.communicate(timeout=60)[0]
    assert lab.returncode == 1
    assert f"Could not start the lab: port {port} on 127.0.0.1 is already in use" in output
    assert "--port" in output and "Traceback" not in output


def test_it_explains_a_redis_that_cannot_start_without_a_traceback(tmp_path):
    fake = tmp_path / "bin" / "redis-server"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'Fatal error: this redis-server is broken on purpose'\nexit 2\n")
    fake.chmod(0o755)
    lab = _runner(tmp_path, "--port", "0", PATH=f"{fake.parent}:{os.environ['PATH']}")
    output = lab.communicate(timeout=60)[0]
    assert lab.returncode == 1
    assert "Could not start the lab: redis-server exited at start (code 2)" in output
    assert "broken on purpose" in output and "Traceback" not in output


def test_it_serves_and_prints_names_other_machines_can_use_on_every_address():
    here, elsewhere = urls("0.0.0.0", 8123)
    assert here == "http://127.0.0.1:8123/"
    assert f"http://{socket.gethostname()}:8123/" in elsewhere
    assert {"127.0.0.1", "localhost", socket.gethostname()} <= set(served_names("0.0.0.0"))


def test_it_prints_the_address_it_was_given_and_brackets_ipv6():
    assert urls("10.0.0.7", 8000) == ("http://10.0.0.7:8000/", [])
    assert urls("::1", 8000) == ("http://[::1]:8000/", [])
    assert served_names("::1") == ["[::1]"]
