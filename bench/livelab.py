"""A running lab for the class-scale benchmarks: the real processes of tests/live.py (a private
Redis, a lab worker, daphne; loopback only), lessons loaded and a few learners created. Optional
extra daphne processes on the same database and Redis stand for a class served by several."""

import platform
import subprocess
import tempfile
import threading
import urllib.parse
from datetime import datetime, timezone
from pathlib import Path

from labapp.redis_server import free_port
from labapp.runner import wait_until_ready, web_server_command
from tests.live import Browserless, LiveLab

PASSWORD = "a-bench-password-20"
STEP = "/lessons/what-tp-splits/what-is-split/"  # the lesson step page the benches read and guess on
LOOPBACK = ("127.0.0.1", "localhost", "::1")  # the hosts a bench that signs up or sends signals accepts


class Server:
    """A lab already running, known by its URL: all Browserless needs of a lab (bench_class, faults)."""

    def __init__(self, url: str):
        self.url = url.rstrip("/")
        self.port = urllib.parse.urlsplit(self.url).port or 80


def machine() -> str:
    cpus = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    load = Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "?"
    return (f"{platform.node()}: {cpus} CPUs, {platform.machine()}, Python {platform.python_version()}; "
            f"load {load} at start; {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC")


class BenchLab(LiveLab):
    def __init__(self, web_processes: int = 1, env: dict | None = None):
        super().__init__(Path(tempfile.mkdtemp(prefix="tplab-bench-")), stall_timeout_s=120)
        # Served as a class is: `lab.py run --host 0.0.0.0` turns DEBUG off (labapp/settings.py),
        # and on SQLite DEBUG's query log runs one more SELECT per query, to quote its parameters.
        self.env["DJANGO_DEBUG"] = "0"
        self.env.update(env or {})
        self.web_processes = web_processes
        self.ports: list[int] = []

    def start(self) -> "BenchLab":
        super().start()
        self.ports = [self.port]
        for _ in range(self.web_processes - 1):
            port = free_port()
            self.children.start(f"web server {port}", web_server_command("127.0.0.1", port), self.env)
            wait_until_ready(self.children, self.redis, "127.0.0.1", port, threading.Event())
            self.ports.append(port)
        self.manage("loadlessons")
        return self

    def learner(self, name: str) -> Browserless:
        self.create_user(name, PASSWORD)
        session = Browserless(self)
        session.login(name, PASSWORD)
        return session

    def learners(self, prefix: str, count: int) -> list[Browserless]:
        """`count` learners, created in one shell call, each logged in with a session of their own."""
        self.manage("shell", "-c", "from django.contrib.auth import get_user_model; U = get_user_model(); "
                    f"[U.objects.create_user(f'{prefix}{{i}}', password={PASSWORD!r}) for i in range({count})]")
        sessions = []
        for i in range(count):
            session = Browserless(self)
            session.login(f"{prefix}{i}", PASSWORD)
            sessions.append(session)
        return sessions

    def __enter__(self) -> "BenchLab":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]
