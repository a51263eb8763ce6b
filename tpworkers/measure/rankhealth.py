"""What keeps a rank process honest, apart from the work it does: a heartbeat the parent reads,
an exit when the parent is gone, and removal of the rank directories killed parents left.

A heartbeat is a time.monotonic() (one clock for every process of the machine) that each rank
writes into shared memory from a thread of its own every HEARTBEAT_S; the parent calls a rank
silent for HEARTBEAT_TIMEOUT_S stopped. Ten missed beats: a thread of a live process is
scheduled far more often than that, even on a busy machine, while a SIGSTOPped or frozen
process writes nothing.
"""

import multiprocessing
import os
import shutil
import tempfile
import threading
import time

HEARTBEAT_S = 0.5
HEARTBEAT_TIMEOUT_S = 5.0
LOG_DIR_PREFIX = "tplab-ranks-"  # then the parent's pid, a dash, and mkdtemp's letters


def remove_stale_log_dirs(tmp: str | None = None) -> list[str]:
    """Remove the rank directories of pools whose parent process is gone (a worker killed with
    SIGKILL cannot remove its own); each directory's name carries its parent's pid."""
    tmp = tmp or tempfile.gettempdir()
    removed = []
    for name in os.listdir(tmp):
        if not name.startswith(LOG_DIR_PREFIX):
            continue
        pid = name[len(LOG_DIR_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and not _pid_alive(int(pid)):
            shutil.rmtree(os.path.join(tmp, name), ignore_errors=True)
            removed.append(name)
    return removed


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: not ours to judge
    return True


def beat_forever(rank: int, beats) -> None:
    """A thread that writes this rank's heartbeat: it stops only when the whole process does."""
    def beat():
        while True:
            beats[rank] = time.monotonic()
            time.sleep(HEARTBEAT_S)

    threading.Thread(target=beat, name="heartbeat", daemon=True).start()


def exit_when_parent_exits() -> None:
    """A rank must not outlive the parent, even when the parent is SIGKILLed mid-collective."""
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=lambda: (parent.join(), os._exit(1)), daemon=True).start()
