"""The lab's child processes: each in a session of its own, its output relayed under its name,
its last lines kept to explain an exit, and all of them stopped together, newest first.

A session of its own means a Ctrl-C in the terminal reaches the runner alone; the runner then
signals each child, and kills each child's whole process group, so rank processes a worker
started go too.
"""

import collections
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TextIO

ROOT = Path(__file__).resolve().parent.parent
TAIL_LINES = 15
_print_lock = threading.Lock()


class Child:
    """One process, what it printed last, and whether it said it was ready.

    With ``ready_line`` (a regular expression) its stdout is held back until a line of either
    stream matches: the Celery worker's banner would otherwise bury the lab's URL. Held lines
    stay in the tail, so a child that dies before it is ready is still explained.
    """

    def __init__(self, name: str, args: list[str], env: dict, ready_line: str | None = None,
                 log: TextIO | None = None):
        self.name = name
        self.log = log
        self.tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        self.ready = threading.Event()
        self._ready_line = re.compile(ready_line) if ready_line else None
        self.process = subprocess.Popen(
            args, cwd=ROOT, env=env, start_new_session=True, text=True, errors="replace",
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        self._relays = [
            threading.Thread(target=self._relay, args=(self.process.stdout, "stdout", ready_line is not None),
                             name=f"{name} stdout", daemon=True),
            threading.Thread(target=self._relay, args=(self.process.stderr, "stderr", False),
                             name=f"{name} stderr", daemon=True),
        ]
        for relay in self._relays:
            relay.start()

    def _relay(self, stream, stream_name: str, hold_until_ready: bool) -> None:
        for line in stream:
            line = line.rstrip("\n")
            self.tail.append(line)
            if self._ready_line and self._ready_line.search(line):
                self.ready.set()
            if not (hold_until_ready and not self.ready.is_set()):
                _echo(f"{self.name} | {line}", self.log or stream_name)
        stream.close()

    @property
    def still_starting(self) -> bool:
        return self._ready_line is not None and not self.ready.is_set()

    def finish_output(self, timeout_s: float = 2.0) -> None:
        for relay in self._relays:
            relay.join(timeout_s)

    def exit_report(self) -> str:
        return exit_report(self.name, self.process.returncode, list(self.tail))


def _echo(text: str, target: TextIO | str) -> None:
    # sys.stdout is looked up at each line, as it may be replaced; and a relay that stopped
    # reading would leave its child blocked on a full pipe, so a write error is ignored.
    try:
        with _print_lock:
            print(text, file=getattr(sys, target) if isinstance(target, str) else target, flush=True)
    except (OSError, ValueError):
        pass


def describe_exit(code: int) -> str:
    """How a process ended, from its return code: "was killed by signal 9 (Killed)"."""
    return f"was killed by signal {-code} ({signal.strsignal(-code)})" if code < 0 else f"exited with code {code}"


def exit_report(name: str, code: int, last_lines: list[str]) -> str:
    report = f"The {name} {describe_exit(code)}"
    lines = [line for line in last_lines if line.strip()]
    if lines:
        report += "; its last lines:\n" + "\n".join(f"    {line}" for line in lines)
    return report


class Children:
    """The runner's children; their output goes to the terminal, or to ``log`` when given."""

    def __init__(self, log: TextIO | None = None):
        self.log = log
        self.started: list[Child] = []

    def start(self, name: str, args: list[str], env: dict, ready_line: str | None = None) -> Child:
        child = Child(name, args, env, ready_line, self.log)
        self.started.append(child)
        return child

    def first_exited(self) -> Child | None:
        return next((child for child in self.started if child.process.poll() is not None), None)

    def stop_all(self, grace_s: float = 10.0) -> None:
        """SIGTERM each child itself (a worker then ends its run with a reason, not with rank
        processes killed under it), then SIGKILL each whole group after the grace period."""
        for child in reversed(self.started):
            if child.process.poll() is None:
                child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for child in reversed(self.started):
            try:
                child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            _signal_group(child.process, signal.SIGKILL)  # stragglers in the group, e.g. rank processes
            child.process.wait()
            child.finish_output()


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass
