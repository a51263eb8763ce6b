"""Keep the lab's parts running: restart a part that died, with a budget, and say why each time.

What systemd and supervisord do, for the few things `lab.py run` starts:
- A part that dies (the lab worker, the web server) is started again on its own, and the
  restart is printed with its cause. More than MAX_STARTS starts of one part within WINDOW_S
  means it cannot stay up: everything is stopped and the reason printed.
- The private Redis that dies is started again on the same port (its URL is in every part's
  environment), and every part that uses it is restarted too: the worker's queue lived in that
  Redis (the new worker re-queues waiting runs from the database) and the web server's channel
  layer connections are dead.
- A part's process group is its own: stopping it sends SIGTERM to the part alone (a worker then
  fails its run in flight with the reason written to its TPLAB_STOP_REASON_FILE, rather than
  losing its rank processes to the signal), and SIGKILL to the whole group after a grace period,
  so no rank process outlives it.

Why not supervisord (the `supervisor` package), run in the foreground: checked against its
4.3.0 source (supervisor/process.py), a program that died after `startsecs` goes RUNNING ->
EXITED with its retry counter reset to 0 and `autorestart` respawns it forever; `startretries`
counts only starts that fail within `startsecs`, and a program that gives up (FATAL) leaves the
others running. There are no dependencies between programs (restart the worker when Redis
restarts), a program's environment is fixed in the configuration (the new worker cannot be told
why the old one died), a stop signal cannot be preceded by writing why, and output is not
prefixed by program name. Each of those would be an event listener speaking its protocol plus
XML-RPC calls: more code than this loop, and a second process to supervise.
"""

import collections
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field

from labapp.children import Child, Children, describe_exit, exit_report
from labapp.redis_server import PrivateRedis

MAX_STARTS = 5
WINDOW_S = 10.0
STOP_GRACE_S = 10.0


class GaveUp(RuntimeError):
    """A part died more often than its restart budget allows; the message says which and why."""

    def __init__(self, part: str, message: str):
        super().__init__(message)
        self.part = part


@dataclass
class Part:
    """One supervised program. `env` is completed with TPLAB_STOP_REASON_FILE (where the reason
    for a stop is written before the signal) and, on a restart, TPLAB_RESTART_CAUSE."""

    name: str
    args: list[str]
    env: dict
    ready_line: str | None = None
    uses_redis: bool = True
    child: Child | None = None
    starts: collections.deque = field(default_factory=collections.deque)
    stop_reason_file: str = ""
    restarted: bool = False  # say so when it is ready again


class Supervisor:
    def __init__(self, children: Children, state_dir: str, redis: PrivateRedis | None = None, say=print):
        self.children, self.state_dir, self.redis, self.say = children, state_dir, redis, say
        self.parts: list[Part] = []
        self.redis_starts: collections.deque = collections.deque([time.monotonic()] if redis else [])

    def add(self, part: Part) -> Part:
        part.stop_reason_file = os.path.join(self.state_dir, f"{part.name.replace(' ', '-')}.stop-reason")
        self.parts.append(part)
        self._start(part)
        return part

    def check(self) -> None:
        """Restart whatever died since the last check; raise GaveUp past a restart budget."""
        report = redis_death(self.redis)
        if report:
            how = describe_exit(self.redis.process.returncode)
            self._spend(self.redis_starts, "private redis-server", report)
            self.redis_starts.append(time.monotonic())
            users = [part for part in self.parts if part.uses_redis]
            self.say(f"{report}\nRestarting the private redis-server on port {self.redis.port}, then "
                     f"{', '.join(part.name for part in users)} (they use it).")
            for part in users:
                self.stop(part, f"The lab's Redis {how} while this run was measuring; the lab restarted "
                                "Redis and its worker.")
            self.redis.restart()
            for part in users:
                self._start(part, cause=f"the lab's Redis {how}; the lab restarted it and this worker")
        for part in self.parts:
            code = part.child.process.poll()
            if code is None:
                if part.restarted and not part.child.still_starting:
                    part.restarted = False
                    self.say(f"The {part.name} is ready again.")
                continue
            _kill_group(part.child.process)  # its rank processes, even stopped ones
            part.child.finish_output()
            report = part.child.exit_report()
            self._spend(part.starts, part.name, report)
            self.say(f"{report}\nRestarting the {part.name} (start {len(part.starts) + 1} of at most "
                     f"{MAX_STARTS} in {WINDOW_S:g} s).")
            self._start(part, cause=f"the {part.name} {describe_exit(code)}; the lab restarted it")

    def stop(self, part: Part, reason: str, grace_s: float = STOP_GRACE_S) -> None:
        """Write why, SIGTERM the part itself, then SIGKILL its whole group (rank processes)."""
        with open(part.stop_reason_file, "w") as why:
            why.write(reason)
        process = part.child.process
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                pass
        _kill_group(process)
        process.wait()
        part.child.finish_output()

    def stop_all(self, reason: str, grace_s: float = STOP_GRACE_S) -> None:
        """Every part, newest first, then Redis."""
        for part in reversed(self.parts):
            self.stop(part, reason, grace_s)
        for child in self.children.started:  # any group an earlier process of a part left behind
            _kill_group(child.process)
        if self.redis:
            self.redis.stop()

    def _start(self, part: Part, cause: str = "") -> None:
        part.starts.append(time.monotonic())
        env = {**part.env, "TPLAB_STOP_REASON_FILE": part.stop_reason_file}
        if cause:
            env["TPLAB_RESTART_CAUSE"] = cause
        if os.path.exists(part.stop_reason_file):
            os.remove(part.stop_reason_file)  # said to the previous process, not to this one
        part.child = self.children.start(part.name, part.args, env, ready_line=part.ready_line)
        part.restarted = bool(cause) and part.ready_line is not None

    def _spend(self, starts: collections.deque, name: str, report: str) -> None:
        now = time.monotonic()
        while starts and now - starts[0] > WINDOW_S:
            starts.popleft()
        if len(starts) >= MAX_STARTS:
            raise GaveUp(name, f"{report}\nThe {name} was started {len(starts)} times in {WINDOW_S:g} s and still "
                         "died: giving up.")


def redis_death(redis: PrivateRedis | None) -> str | None:
    """How the private Redis died, with its last log lines; None while it serves, or when the lab
    uses a Redis it did not start."""
    if redis is None or redis.process.poll() is None:
        return None
    return exit_report("private redis-server", redis.process.returncode, redis.log_tail().splitlines())


def first_death(children: Children, redis: PrivateRedis | None) -> str | None:
    """Why the lab can no longer work, or None. Redis first: the worker dies of a lost Redis."""
    if report := redis_death(redis):
        return report
    child = children.first_exited()
    return child.exit_report() if child else None


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
