"""Rank processes for one device group, kept warm between runs.

An experiment is N ranks running collectives together. Starting N Python processes that import
torch and join a process group costs over a second, so they are started once per device group and
reused: the parent sends every rank a task (a module-level function plus a payload), each rank runs
`task(ctx, payload)` and replies with its return value.

A rank that raises, dies or does not answer in time becomes `RankFailed` naming the rank and the
cause. The pool is then torn down, since the surviving ranks may be stuck inside a collective
waiting for the lost one, and the next `get_pool()` builds a fresh one. Every child is joined.

Rendezvous goes through a TCPStore that the parent opens on a port the OS picks, so pools of
concurrent test runs never collide on MASTER_PORT.

Ranks are started with multiprocessing's "spawn", which re-imports the parent's __main__ in each
child: run scripts as files or `-m` modules with an `if __name__ == "__main__":` guard (a Celery
worker, pytest and `python -m tpworkers.measure.collectives` all qualify; code piped on stdin does not).
"""

import atexit
import multiprocessing
import os
import pickle
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass
from datetime import timedelta
from multiprocessing.connection import wait

import torch
import torch.distributed as dist

from tpworkers.measure.devicegroup import ConfigError, DeviceGroup, parse_transports
from tpworkers.measure.timing import synchronize

__all__ = ["ConfigError", "DeviceGroup", "RankContext", "RankFailed", "RankPool", "SweepCancelled", "get_pool",
           "run_command", "shutdown_pool"]


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


@dataclass
class RankContext:
    """What a task sees inside a rank process."""

    rank: int
    world_size: int
    group: DeviceGroup
    device: torch.device

    def synchronize(self) -> None:
        """Wait for queued GPU work; a no-op on CPU where gloo collectives block."""
        synchronize(self.device)


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


class RankPool:
    """N warm rank processes of one DeviceGroup. Use get_pool() rather than building one."""

    def __init__(self, group: DeviceGroup, start_timeout_s: float = START_TIMEOUT_S):
        group.validate()
        self.group = group
        self.broken = False
        self._lock = threading.Lock()
        self.log_dir = tempfile.mkdtemp(prefix="tplab-ranks-")  # NCCL_DEBUG_FILE of every rank
        self._store = dist.TCPStore("127.0.0.1", 0, is_master=True, wait_for_workers=False)
        spawn = multiprocessing.get_context("spawn")
        self._conns, self._procs = [], []
        for rank in range(group.nproc):
            parent_end, child_end = spawn.Pipe()
            proc = spawn.Process(target=_rank_main, name=f"tplab-rank{rank}", daemon=True,
                                 args=(rank, group, self._store.port, child_end, self.log_dir))
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

    def run(self, task, payload=None, timeout_s: float = 120.0) -> list:
        """Run task(ctx, payload) on every rank; return the per-rank results, rank order."""
        with self._lock:
            if self.broken:
                raise RuntimeError("this pool was torn down after a failure; call get_pool() again")
            message = pickle.dumps(("run", task, payload))
            for conn in self._conns:
                try:
                    conn.send_bytes(message)
                except OSError:
                    pass  # that rank is dead; _collect reports it through its sentinel
            return self._collect(timeout_s, doing=getattr(task, "__qualname__", str(task)))

    def transport(self) -> str | None:
        """What NCCL said it connected over, read from every rank's NCCL_DEBUG=INFO log in
        log_dir (None on gloo, or before the first collective)."""
        lines = []
        for name in sorted(os.listdir(self.log_dir)) if os.path.isdir(self.log_dir) else []:
            with open(os.path.join(self.log_dir, name), errors="replace") as log:
                lines.extend(log)
        return parse_transports(lines)

    def shutdown(self) -> None:
        """Stop every rank (politely if healthy, else by signal) and join them all."""
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
                proc.terminate()
        for proc in self._procs:
            proc.join(timeout=3)
            if proc.is_alive():
                proc.kill()
                proc.join()
        for conn in self._conns:
            conn.close()
        self._store = None
        shutil.rmtree(self.log_dir, ignore_errors=True)

    def _collect(self, timeout_s: float, doing: str) -> list:
        """Wait for one reply per rank; on the first failure tear the pool down and raise."""
        replies: dict[int, object] = {}
        deadline = time.monotonic() + timeout_s
        sentinels = {p.sentinel: rank for rank, p in enumerate(self._procs)}
        while len(replies) < self.group.nproc:
            pending = {self._conns[r]: r for r in range(self.group.nproc) if r not in replies}
            ready = wait([*pending, *sentinels], timeout=max(0.0, deadline - time.monotonic()))
            if not ready:
                late = tuple(sorted(pending.values()))
                self._fail(late, f"did not finish {doing} within {timeout_s:g} s (hung?)")
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


def _rank_main(rank: int, group: DeviceGroup, store_port: int, conn, log_dir: str) -> None:
    """Body of one rank process: join the group, then serve tasks until told to stop."""
    _exit_when_parent_exits()
    for key, value in group.rank_env(log_dir).items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    device = group.rank_device(rank)
    try:
        if device.type == "cuda":
            torch.cuda.set_device(device)
        else:
            torch.set_num_threads(1)  # ranks share the cores; extra intra-op threads only fight
        store = dist.TCPStore("127.0.0.1", store_port, is_master=False, timeout=timedelta(seconds=120))
        dist.init_process_group(group.backend, store=store, rank=rank, world_size=group.nproc,
                                device_id=device if group.backend == "nccl" else None)
    except Exception as exc:
        conn.send_bytes(pickle.dumps(("error", _describe_exception(exc))))
        return
    conn.send_bytes(pickle.dumps(("ok", os.getpid())))
    ctx = RankContext(rank=rank, world_size=group.nproc, group=group, device=device)
    while True:
        try:
            raw = conn.recv_bytes()
        except (EOFError, OSError):
            break
        try:
            message = pickle.loads(raw)
            if message[0] == "stop":
                break
            _, task, payload = message
            reply = ("ok", task(ctx, payload))
        except Exception as exc:
            reply = ("error", _describe_exception(exc))
        conn.send_bytes(pickle.dumps(reply))
    dist.destroy_process_group()


def _describe_exception(exc: BaseException) -> tuple[str, str]:
    return f"{type(exc).__name__}: {exc}", traceback.format_exc()


def _exit_when_parent_exits() -> None:
    """A rank must not outlive the parent, even when the parent is SIGKILLed mid-collective."""
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=lambda: (parent.join(), os._exit(1)), daemon=True).start()


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


def shutdown_pool() -> None:
    """Stop the warm pool, if any, and reap its processes."""
    global _pool
    with _pool_lock:
        if _pool is not None:
            _pool.shutdown()
            _pool = None


atexit.register(shutdown_pool)
