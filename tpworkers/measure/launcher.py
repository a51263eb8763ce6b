"""Rank processes for one device group, kept warm between runs.

An experiment is N ranks running collectives together. Starting N Python processes that import
torch and join a process group costs over a second, so they are started once per device group and
reused: the parent sends every rank a task (a module-level function plus a payload), each rank runs
`task(ctx, payload)` and replies with its return value (the rank's side: rankprocess.py).

A rank that raises, dies or does not answer in time becomes `RankFailed` naming the rank and the
cause. The pool is then torn down, since the surviving ranks may be stuck inside a collective
waiting for the lost one, and the next `get_pool()` builds a fresh one. Every child is joined.

Hangs are caught two ways. Every rank writes a heartbeat (a timestamp in shared memory, from a
thread of its own) every HEARTBEAT_S; a rank silent for `heartbeat_timeout_s` is stopped
(SIGSTOP), frozen or starved, and is named alone: its peers, blocked in a collective waiting
for it, keep beating. A step that outlives its own deadline (all ranks beating but stuck, e.g.
a deadlocked collective) fails naming the ranks that did not reply. While it waits, the parent
also asks the caller's should_stop() every STOP_CHECK_S, so a cancel ends even a hung step:
the ranks are killed and SweepCancelled raised.

Rendezvous goes through a TCPStore that the parent opens on a port the OS picks, so pools of
concurrent test runs never collide on MASTER_PORT.

Ranks are started with multiprocessing's "spawn", which re-imports the parent's __main__ in each
child: run scripts as files or `-m` modules with an `if __name__ == "__main__":` guard (a Celery
worker, pytest and `python -m tpworkers.measure.collectives` all qualify; code piped on stdin does not).
"""

import atexit
import logging
import multiprocessing
import os
import pickle
import shutil
import signal
import sys
import tempfile
import threading
import time
from multiprocessing.connection import wait

import torch.distributed as dist

from tpworkers.measure.devicegroup import ConfigError, DeviceGroup, parse_transports
from tpworkers.measure.rankhealth import HEARTBEAT_S, HEARTBEAT_TIMEOUT_S, LOG_DIR_PREFIX
from tpworkers.measure.rankprocess import rank_main

log = logging.getLogger(__name__)

__all__ = ["ConfigError", "DeviceGroup", "RankFailed", "RankPool", "SweepCancelled", "get_pool", "warm_pool",
           "run_command", "shutdown_pool", "step_timeout"]


class SweepCancelled(Exception):
    """A run's should_stop() said stop between two steps; `measurements` holds the records
    finished before that (sweeps, layer benchmarks and decode runs all raise it)."""

    def __init__(self, measurements: list):
        super().__init__(f"run cancelled after {len(measurements)} records")
        self.measurements = measurements


class RankFailed(RuntimeError):
    """A rank raised, died or hung. `ranks` names who, `cause` says what, `details` has the traceback."""

    def __init__(self, ranks: tuple[int, ...], cause: str, details: str = ""):
        who = f"rank {ranks[0]}" if len(ranks) == 1 else "ranks " + ", ".join(map(str, ranks))
        super().__init__(f"{who} {cause}")
        self.ranks, self.rank, self.cause, self.details = ranks, ranks[0], cause, details


def run_command(body) -> int:
    """The exit status every experiment command line shares: ``body()``'s own, 2 when the
    configuration is refused (before any process starts), 1 when a rank failed."""
    try:
        return body()
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except RankFailed as error:
        print(f"error: {error}\n{error.details}", file=sys.stderr)
        return 1


# Starting ranks and joining the process group: NCCL's first init on a big node can take a minute.
START_TIMEOUT_S = 180.0
STOP_CHECK_S = 1.0  # how often a waiting parent asks should_stop(): a cancel lands within ~1 s


def step_timeout(timeout_s, key) -> float:
    """A step's deadline: `timeout_s` itself, or `timeout_s(key)` when the caller gave one per
    step (a sweep's deadlines per size, from the run's own estimate)."""
    return float(timeout_s(key)) if callable(timeout_s) else float(timeout_s)


class RankPool:
    """N warm rank processes of one DeviceGroup. Use get_pool() rather than building one."""

    def __init__(self, group: DeviceGroup, start_timeout_s: float = START_TIMEOUT_S,
                 heartbeat_timeout_s: float = HEARTBEAT_TIMEOUT_S):
        group.validate()
        self.group = group
        self.broken = False
        self.heartbeat_timeout_s = heartbeat_timeout_s
        self._lock = threading.Lock()
        # NCCL_DEBUG_FILE of every rank; named after this process so a later worker can remove
        # it if this one is killed (remove_stale_log_dirs).
        self.log_dir = tempfile.mkdtemp(prefix=f"{LOG_DIR_PREFIX}{os.getpid()}-")
        self._store = dist.TCPStore("127.0.0.1", 0, is_master=True, wait_for_workers=False)
        spawn = multiprocessing.get_context("spawn")
        self._beats = spawn.Array("d", group.nproc, lock=False)  # each rank's last time.monotonic()
        self._conns, self._procs = [], []
        for rank in range(group.nproc):
            parent_end, child_end = spawn.Pipe()
            proc = spawn.Process(target=rank_main, name=f"tplab-rank{rank}", daemon=True,
                                 args=(rank, group, self._store.port, child_end, self.log_dir, self._beats))
            proc.start()
            child_end.close()
            self._conns.append(parent_end)
            self._procs.append(proc)
        self._collect(start_timeout_s, doing="joining the process group")

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._procs]

    def alive(self) -> bool:
        return not self.broken and all(p.is_alive() for p in self._procs)

    def run(self, task, payload=None, timeout_s: float = 120.0, should_stop=None) -> list:
        """Run task(ctx, payload) on every rank; return the per-rank results, rank order.
        should_stop(), asked every STOP_CHECK_S while the ranks work, True ends the step: the
        ranks are killed (they may be stuck) and SweepCancelled([]) raised."""
        with self._lock:
            if self.broken:
                raise RuntimeError("this pool was torn down after a failure; call get_pool() again")
            message = pickle.dumps(("run", task, payload))
            for conn in self._conns:
                try:
                    conn.send_bytes(message)
                except OSError:
                    pass  # that rank is dead; _collect reports it through its sentinel
            return self._collect(timeout_s, doing=getattr(task, "__qualname__", str(task)), should_stop=should_stop)

    def transport(self) -> str | None:
        """What NCCL said it connected over, read from every rank's NCCL_DEBUG=INFO log in
        log_dir (None on gloo, or before the first collective)."""
        lines = []
        for name in sorted(os.listdir(self.log_dir)) if os.path.isdir(self.log_dir) else []:
            with open(os.path.join(self.log_dir, name), errors="replace") as log:
                lines.extend(log)
        return parse_transports(lines)

    def shutdown(self) -> None:
        """Stop every rank (politely if healthy, else by SIGKILL: a broken pool's ranks may be
        stopped or stuck in a collective, and hold nothing worth a clean exit) and join them all."""
        if not self.broken:
            for conn in self._conns:
                try:
                    conn.send_bytes(pickle.dumps(("stop",)))
                except OSError:
                    pass
            for proc in self._procs:
                proc.join(timeout=10)
        self.broken = True
        for proc in self._procs:
            if proc.is_alive():
                proc.kill()
        for proc in self._procs:
            proc.join()
        for conn in self._conns:
            conn.close()
        self._store = None
        shutil.rmtree(self.log_dir, ignore_errors=True)

    def _collect(self, timeout_s: float, doing: str, should_stop=None) -> list:
        """Wait for one reply per rank; on the first failure tear the pool down and raise."""
        replies: dict[int, object] = {}
        deadline = time.monotonic() + timeout_s
        next_stop_check = time.monotonic() + STOP_CHECK_S
        sentinels = {p.sentinel: rank for rank, p in enumerate(self._procs)}
        while len(replies) < self.group.nproc:
            pending = {self._conns[r]: r for r in range(self.group.nproc) if r not in replies}
            now = time.monotonic()
            ready = wait([*pending, *sentinels], timeout=max(0.0, min(deadline, now + HEARTBEAT_S) - now))
            if not ready:
                self._check_heartbeats(doing)
                if should_stop is not None and time.monotonic() >= next_stop_check:
                    next_stop_check = time.monotonic() + STOP_CHECK_S
                    if should_stop():
                        self.broken = True
                        self.shutdown()
                        raise SweepCancelled([])
                if time.monotonic() >= deadline:
                    late = tuple(sorted(pending.values()))
                    self._fail(late, f"did not finish {doing} within {timeout_s:g} s, its deadline (hung?)")
                continue
            for obj in ready:
                if obj in sentinels:
                    rank = sentinels[obj]
                    self._fail_with_root_cause(doing, ((rank,), f"exited while {doing} without replying"))
                rank = pending[obj]
                try:
                    status, value = pickle.loads(obj.recv_bytes())
                except (EOFError, OSError):
                    self._fail_with_root_cause(doing, ((rank,), f"closed its connection while {doing}"))
                if status == "error":
                    summary, details = value
                    self._fail_with_root_cause(doing, ((rank,), f"raised {summary} while {doing}", details))
                replies[rank] = value
        return [replies[r] for r in range(self.group.nproc)]

    def _check_heartbeats(self, doing: str) -> None:
        """Fail naming the first rank whose heartbeat stopped (never one that has not beaten yet:
        a starting rank is bounded by the start timeout)."""
        now = time.monotonic()
        for rank, beat in enumerate(self._beats):
            if beat and now - beat > self.heartbeat_timeout_s:
                self._fail((rank,), f"stopped answering while {doing}: no heartbeat for {now - beat:.1f} s "
                                    "(the process is stopped, frozen or starved of CPU)")

    def _fail_with_root_cause(self, doing: str, fallback: tuple):
        """Blame a rank that died abnormally first: its peers' errors ('connection closed by
        peer') are only symptoms. Otherwise raise `fallback` = (ranks, cause[, details])."""
        time.sleep(0.5)  # give a dying peer the moment it needs to become visible
        for rank, proc in enumerate(self._procs):
            proc.join(timeout=0)
            if proc.exitcode not in (None, 0):
                self._fail((rank,), f"died while {doing}: {_describe_exit(proc.exitcode)}")
        self._fail(*fallback)

    def _fail(self, ranks, cause, details=""):
        self.broken = True
        self.shutdown()
        raise RankFailed(ranks, cause, details)


def _describe_exit(exitcode: int) -> str:
    if exitcode < 0:
        return f"killed by {signal.Signals(-exitcode).name}"
    return f"exited with code {exitcode} (its traceback is on stderr)"


_pool: RankPool | None = None
_pool_lock = threading.Lock()


def get_pool(group: DeviceGroup) -> RankPool:
    """The process-wide warm pool for `group`; rebuilt when the group changes or a run failed."""
    global _pool
    with _pool_lock:
        if _pool is not None and (_pool.group != group or not _pool.alive()):
            _pool.shutdown()
            _pool = None
        if _pool is None:
            _pool = RankPool(group)
        return _pool


def warm_pool(group: DeviceGroup) -> threading.Thread:
    """Start `group`'s pool in the background, so the next run finds its ranks ready (a cold
    start is 1–4 s of the learner's first click). A run that arrives meanwhile waits for the
    same start in get_pool() rather than starting a second one. A failure is only logged: the
    run that needs the pool will start it again and report why it cannot."""
    def warm() -> None:
        try:
            get_pool(group)
        except Exception:
            log.warning("could not warm the rank pool for %s", group, exc_info=True)

    thread = threading.Thread(target=warm, name="warm-rank-pool", daemon=True)
    thread.start()
    return thread


def shutdown_pool() -> None:
    """Stop the warm pool, if any, and reap its processes."""
    global _pool
    with _pool_lock:
        if _pool is not None:
            _pool.shutdown()
            _pool = None


atexit.register(shutdown_pool)
