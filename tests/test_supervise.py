"""The runner's supervision with toy parts: a dead part is restarted with its cause, a part that
keeps dying stops the lab, a stop says why before its signal and leaves no process behind, and a
dead private Redis is named first and comes back with the parts that use it."""

import os
import signal
import sys
import time

import pytest

from labapp import supervise
from labapp.children import Children
from labapp.redis_server import PrivateRedis, choose_redis
from labapp.supervise import GaveUp, Part, Supervisor, first_death


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


@pytest.fixture
def supervisor(tmp_path):
    said = []
    supervisor = Supervisor(Children(), str(tmp_path), say=said.append)
    supervisor.said = said
    yield supervisor
    supervisor.stop_all("the test ended", grace_s=2)


def _until(condition, timeout_s=20):
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_it_restarts_a_dead_part_saying_why_and_tells_the_new_process_the_cause(supervisor, tmp_path):
    cause_file = tmp_path / "cause"
    code = (f"import os, time; open({str(cause_file)!r}, 'a').write(os.environ.get('TPLAB_RESTART_CAUSE', '-') + '\\n');"
            "print('serving', flush=True); time.sleep(60)")
    part = supervisor.add(Part("toy", _python(code), dict(os.environ)))
    _until(lambda: cause_file.exists())
    first = part.child.process.pid
    os.kill(first, signal.SIGKILL)
    _until(lambda: (supervisor.check(), part.child.process.pid != first)[1])
    assert supervisor.said[0].startswith("The toy was killed by signal 9 (Killed); its last lines:\n    serving")
    assert supervisor.said[0].endswith("Restarting the toy (start 2 of at most 5 in 10 s).")
    _until(lambda: len(cause_file.read_text().splitlines()) == 2)
    assert cause_file.read_text().splitlines() == ["-", "the toy was killed by signal 9 (Killed); the lab restarted it"]


def test_it_gives_up_on_a_part_that_keeps_dying_and_says_so(supervisor):
    supervisor.add(Part("crasher", _python("import sys; print('no config'); sys.exit(3)"), dict(os.environ)))
    with pytest.raises(GaveUp) as gave_up:
        for _ in range(200):
            supervisor.check()
            time.sleep(0.05)
    assert gave_up.value.part == "crasher"
    assert str(gave_up.value).startswith("The crasher exited with code 3; its last lines:\n    no config")
    assert str(gave_up.value).endswith(f"was started {supervise.MAX_STARTS} times in 10 s and still died: giving up.")
    assert len(supervisor.said) == supervise.MAX_STARTS - 1


def test_a_stop_writes_why_before_its_signal_and_kills_the_parts_whole_group(supervisor, tmp_path):
    heard = tmp_path / "heard"
    code = ("import os, signal, subprocess, sys, time\n"
            "grandchild = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
            "print(grandchild.pid, flush=True)\n"
            "def on_term(*_):\n"
            f"    open({str(heard)!r}, 'w').write(open(os.environ['TPLAB_STOP_REASON_FILE']).read())\n"
            "    sys.exit(0)\n"
            "signal.signal(signal.SIGTERM, on_term)\n"
            "time.sleep(60)\n")
    part = supervisor.add(Part("toy", _python(code), dict(os.environ)))
    _until(lambda: part.child.tail)
    grandchild = int(part.child.tail[0])
    supervisor.stop(part, "The lab was stopped (Ctrl-C on python3 lab.py run) while this run was measuring.")
    assert heard.read_text() == "The lab was stopped (Ctrl-C on python3 lab.py run) while this run was measuring."
    _until(lambda: not os.path.exists(f"/proc/{grandchild}") or "Z" in open(f"/proc/{grandchild}/stat").read().split()[2])


def test_a_dead_private_redis_is_reported_first_and_restarted_with_its_users(tmp_path):
    redis = PrivateRedis(choose_redis({}).binary).start()
    said = []
    supervisor = Supervisor(Children(), str(tmp_path), redis, say=said.append)
    try:
        part = supervisor.add(Part("toy", _python("import time; time.sleep(60)"), dict(os.environ)))
        first = part.child.process.pid
        os.kill(redis.process.pid, signal.SIGKILL)
        redis.process.wait()
        os.kill(first, signal.SIGKILL)
        part.child.process.wait()
        assert first_death(supervisor.children, redis).startswith("The private redis-server was killed by signal 9")
        supervisor.check()
        assert said[0].startswith("The private redis-server was killed by signal 9 (Killed)")
        assert said[0].endswith(f"Restarting the private redis-server on port {redis.port}, then toy (they use it).")
        assert redis.process.poll() is None and part.child.process.pid != first
    finally:
        supervisor.stop_all("the test ended", grace_s=2)
