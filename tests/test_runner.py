"""`python3 lab.py run` starts everything and Ctrl-C stops every process it started."""

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.live


def _children_of(pid: int) -> dict[int, int]:
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
    parents = _children_of(pid)
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


def test_it_starts_the_lab_prints_the_url_and_ctrl_c_leaves_nothing_behind(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 'lab.sqlite3'}", TPLAB_STATE_DIR=str(tmp_path / "state"))
    lab = subprocess.Popen([sys.executable, "-m", "labapp.runner", "--port", "0"], cwd=ROOT, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output, url = [], None
    deadline = time.monotonic() + 120
    while url is None and time.monotonic() < deadline and lab.poll() is None:
        line = lab.stdout.readline()
        output.append(line)
        found = re.search(r"TP Lab is running at (http://127\.0\.0\.1:(\d+)/)", line)
        url = found and found.group(1)
    assert url, "".join(output)
    port = int(re.search(r":(\d+)/$", url).group(1))
    assert any("Instructor account created: username 'instructor'" in line for line in output)

    started = descendants(lab.pid)
    names = {Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
             for pid in started if _alive(pid)}
    assert any("redis-server" in name for name in names), names
    assert any("labworker" in name for name in names), names
    assert any("daphne" in name for name in names), names

    lab.send_signal(signal.SIGINT)  # what Ctrl-C sends
    rest = lab.communicate(timeout=60)[0]
    assert lab.returncode == 0, rest
    assert "Stopped every process the lab started." in rest
    assert [pid for pid in started if _alive(pid)] == []
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1)
