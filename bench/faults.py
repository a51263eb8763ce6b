"""Replay the fault table of issue 12 against a running lab on this machine and print what happened.

    python -m bench.faults http://127.0.0.1:8000/ --user instructor --password '...' [--repeats 1]

The lab must be `python3 lab.py run` on this machine (loopback only: the faults are signals to
its processes, found from the port: the web server listening on it, the runner above it, and
the worker, Redis and rank processes below), started with TPLAB_MAX_ACTIVE_RUNS_PER_LEARNER of
at least 4 for the queued-runs fault. Each fault starts a sweep, waits for rows, injects the
fault, and records:
  detection  seconds from the fault until the run left "running" (or, for the web server, until
             the page answers again)
  outcome    the run's final status and the first words of its reason
  rows lost  rows the page had shown before the fault that the run's JSON no longer has
  guesses    lessons guesses acknowledged (posted while the fault is in force) that the step page
             does not count afterwards
  orphans    rank processes alive outside the runner's tree, and rank directories of dead workers
  recovery   seconds from the fault until a new one-row run is done
Counts are bounded (--repeats, default 1, at most 5); every run is small (CPU, 2 ranks).
"""

import argparse
import json
import os
import re
import signal
import tempfile
import time
import urllib.parse
from pathlib import Path

from bench.livelab import LOOPBACK, Server
from tests.live import Browserless

LONG = {"op": "all_reduce", "min_size": "1K", "max_size": "16M", "factor": "2", "dtype": "float32", "nproc": "2",
        "warmup": "1", "iters": "40"}
TINY = {**LONG, "max_size": "1K", "iters": "1"}
GUESS_STEP = "/lessons/all-reduce-tax/count/"
ENDED = ("done", "failed", "cancelled")


class Lab(Browserless):
    """A logged-in browser of the lab, and the lab's processes on this machine."""

    def __init__(self, url: str, user: str, password: str):
        if urllib.parse.urlsplit(url).hostname not in LOOPBACK:
            raise SystemExit("bench.faults sends signals to the lab's processes: give a loopback URL")
        super().__init__(Server(url), timeout_s=10)  # a request to a stopped process fails, not waits
        try:
            self.login(user, password)
        except AssertionError:
            raise SystemExit(f"could not log in as {user}") from None
        self.guesses_sent = 0
        self.seen_workers: set[int] = set()  # every worker and rank process a fault was aimed near
        self.seen_ranks: set[int] = set()

    def serves(self) -> bool:
        try:
            return self.get("/accounts/login/").status == 200
        except OSError:
            return False

    def start(self, params: dict) -> int:
        try:
            return self.start_run(**params)
        except AssertionError:
            raise SystemExit("the lab refused a run (raise TPLAB_MAX_ACTIVE_RUNS_PER_LEARNER?)") from None

    def run(self, run_id: int) -> dict:
        return json.loads(self.get(f"/lab/runs/{run_id}/download.json").read())

    def guess(self) -> None:
        """Commit a guess, retrying while the web server is away; counted once acknowledged."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                self.post(GUESS_STEP + "guess/", {"value": "2"})
                self.guesses_sent += 1
                return
            except OSError:
                time.sleep(0.5)

    def guesses_kept(self) -> int:
        page = self.get(GUESS_STEP).read().decode()
        found = re.search(r"\((\d+) attempts\)", page)
        return int(found.group(1)) if found else int("Your first guess, kept for good" in page)

    # ------------------------------------------------------------------ processes
    def runner(self) -> int:
        return _parent(_listener(self.lab.port))

    def pid(self, needle: str) -> int:
        return min(pid for pid in _descendants(self.runner()) if needle in _cmdline(pid))

    def ranks(self) -> list[int]:
        worker = self.pid("labworker")
        ranks = sorted(pid for pid in _descendants(worker) if "spawn_main" in _cmdline(pid))
        self.seen_workers.add(worker)
        self.seen_ranks.update(ranks)
        return ranks


def _listener(port: int) -> int:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":  # LISTEN
                inodes.add(fields[9])
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if any(os.readlink(f"/proc/{pid}/fd/{fd}")[8:-1] in inodes for fd in os.listdir(f"/proc/{pid}/fd")):
                return int(pid)
        except OSError:
            continue
    raise SystemExit(f"no process of yours listens on port {port}")


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _descendants(root: int) -> set[int]:
    parents = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            parents[int(pid)] = _parent(int(pid))
        except (OSError, IndexError):
            pass
    found, frontier = set(), {root}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def orphans(lab: Lab) -> int:
    """Rank processes this bench saw that outlived their worker, and rank directories of this
    lab's dead workers (a directory is named after its worker's pid)."""
    ours = _descendants(lab.runner())
    ranks = [pid for pid in lab.seen_ranks if "spawn_main" in _cmdline(pid) and pid not in ours]
    stale = [name for name in os.listdir(tempfile.gettempdir())
             if any(name.startswith(f"tplab-ranks-{worker}-") for worker in lab.seen_workers)
             and not Path(f"/proc/{name.split('-')[2]}").exists()]
    return len(ranks) + len(stale)


def _until(condition, timeout_s: float = 300.0, every_s: float = 0.25):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            found = condition()
        except (OSError, ValueError):
            found = None
        if found:
            return found
        time.sleep(every_s)
    return None


def trial(lab: Lab, fault: str) -> dict:
    """Start a sweep, inject `fault` after 3 rows, and measure what happened."""
    lab.ranks()  # noted, to find orphans later
    run = lab.start(LONG)
    queued = [lab.start(TINY) for _ in range(3)] if fault == "queued runs + SIGKILL worker" else []
    _until(lambda: len(lab.run(run)["measurements"]) >= 3)
    seen = len(lab.run(run)["measurements"])
    lab.ranks()
    target = {"SIGKILL one rank": lambda: lab.ranks()[1], "SIGSTOP one rank": lambda: lab.ranks()[1],
              "Cancel a hung run": lambda: lab.ranks()[1], "SIGKILL worker": lambda: lab.pid("labworker"),
              "queued runs + SIGKILL worker": lambda: lab.pid("labworker"),
              "SIGKILL Redis": lambda: lab.pid("redis-server"), "SIGKILL web server": lambda: lab.pid("daphne")}[fault]()
    os.kill(target, signal.SIGSTOP if fault in ("SIGSTOP one rank", "Cancel a hung run") else signal.SIGKILL)
    at = time.monotonic()
    if fault == "Cancel a hung run":
        lab.post(f"/lab/runs/{run}/cancel/", {})
    if fault == "SIGKILL web server":
        lab.guess()  # while the web server is away: retried until it answers
        _until(lab.serves)
        detected = time.monotonic() - at
    _until(lambda: lab.run(run)["status"] != "running", every_s=0.1)
    if fault != "SIGKILL web server":
        detected = time.monotonic() - at
        lab.guess()
    final = _until(lambda: (lambda r: r["status"] in ENDED and r)(lab.run(run)))
    done_queued = sum(bool(_until(lambda q=q: lab.run(q)["status"] == "done", 180)) for q in queued)
    probe = lab.start(TINY)
    _until(lambda: lab.run(probe)["status"] in ENDED, 300)
    recovered = time.monotonic() - at if lab.run(probe)["status"] == "done" else float("nan")
    error = final["error"] if len(final["error"]) <= 90 else f"{final['error'][:40]} … {final['error'][-45:]}"
    outcome = final["status"] + (f": {error}" if error else "")
    if queued:
        outcome += f"; queued runs done {done_queued}/{len(queued)}"
    return {"fault": fault, "detect_s": detected, "outcome": outcome,
            "rows_lost": max(0, seen - len(final["measurements"])), "orphans": orphans(lab), "recovery_s": recovered}


FAULTS = ["SIGKILL one rank", "SIGSTOP one rank", "Cancel a hung run", "SIGKILL worker",
          "queued runs + SIGKILL worker", "SIGKILL Redis", "SIGKILL web server"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--user", default="instructor")
    parser.add_argument("--password", default=os.environ.get("TPLAB_PASSWORD", ""))
    parser.add_argument("--repeats", type=int, default=1, choices=range(1, 6))
    options = parser.parse_args()
    lab = Lab(options.url, options.user, options.password)
    kept_before = lab.guesses_kept()
    rows = [trial(lab, fault) for fault in FAULTS for _ in range(options.repeats)]
    lost_guesses = lab.guesses_sent - (lab.guesses_kept() - kept_before)
    print("| fault | detection | outcome | rows lost | orphans | recovery |\n|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['fault']} | {row['detect_s']:.2f} s | {row['outcome']} | {row['rows_lost']} | "
              f"{row['orphans']} | {row['recovery_s']:.1f} s |")
    print(f"\nguesses committed during faults: {lab.guesses_sent}, lost: {lost_guesses}")


if __name__ == "__main__":
    main()
