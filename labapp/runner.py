"""``python3 lab.py run``: start everything the lab needs, print the URL, stop it all on Ctrl-C.

Started, in order: Redis (unless REDIS_URL is set), migrations, lesson content, the instructor
account, one lab worker (Celery, solo pool) and daphne (ASGI). Each child gets a session of
its own so that a signal to the runner reaches the runner only; the runner then stops each
child's whole process group (rank processes included), newest first.
"""

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from labapp.redis_server import PrivateRedis, choose_redis, free_port

ROOT = Path(__file__).resolve().parent.parent


class Children:
    def __init__(self):
        self.started: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, args: list[str], env: dict) -> subprocess.Popen:
        process = subprocess.Popen(args, cwd=ROOT, env=env, start_new_session=True)
        self.started.append((name, process))
        return process

    def first_exited(self) -> tuple[str, int] | None:
        for name, process in self.started:
            if process.poll() is not None:
                return name, process.returncode
        return None

    def stop_all(self, grace_s: float = 10.0) -> None:
        for _, process in reversed(self.started):
            _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for _, process in reversed(self.started):
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            _signal_group(process, signal.SIGKILL)  # stragglers in the group, e.g. rank processes
            process.wait()


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass


def manage(*args: str, env: dict) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True)


def wait_for_port(host: str, port: int, process: subprocess.Popen, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the web server exited with code {process.returncode}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the web server did not listen on {host}:{port} within {timeout_s} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lab.py run", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    options = parser.parse_args(argv)

    stopping = False

    def request_stop(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "labapp.settings", "PYTHONUNBUFFERED": "1"}
    choice = choose_redis(os.environ)
    redis = None
    if choice.kind == "external":
        redis_url = choice.url
    else:
        redis = PrivateRedis(choice.binary).start()
        redis_url = redis.url
    env["REDIS_URL"] = redis_url
    print(f"Redis: {choice.describe()} at {redis_url}", flush=True)

    children = Children()
    exit_code = 0
    try:
        manage("migrate", "--noinput", "-v", "0", env=env)
        manage("loadlessons", env=env)
        manage("ensure_instructor", env=env)
        if env.get("TPLAB_MODE") == "production":
            manage("collectstatic", "--noinput", "-v", "0", env=env)
        port = options.port or free_port(options.host)
        children.start("lab worker", [sys.executable, "manage.py", "labworker"], env)
        web = children.start(
            "web server",
            [sys.executable, "-m", "daphne", "-b", options.host, "-p", str(port), "labapp.asgi:application"],
            env,
        )
        wait_for_port(options.host, port, web)
        print(f"\nTP Lab is running at http://{options.host}:{port}/  (Ctrl-C stops everything)\n", flush=True)
        while not stopping:
            exited = children.first_exited()
            if exited:
                print(f"The {exited[0]} exited with code {exited[1]}; stopping the lab.", file=sys.stderr)
                exit_code = 1
                break
            time.sleep(0.3)
    except (subprocess.CalledProcessError, RuntimeError) as exc:
        print(f"Could not start the lab: {exc}", file=sys.stderr)
        exit_code = 1
    finally:
        children.stop_all()
        if redis:
            redis.stop()
        print("Stopped every process the lab started.", flush=True)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
