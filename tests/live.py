"""The lab's real processes for end-to-end tests: a private Redis, a lab worker and daphne."""

import http.cookiejar
import json
import os
import re
import subprocess
import sys
import threading
import urllib.parse
import urllib.request
from pathlib import Path

from labapp.redis_server import PrivateRedis, choose_redis, free_port
from labapp.children import Children
from labapp.runner import WORKER_READY, wait_until_ready, web_server_command

ROOT = Path(__file__).resolve().parent.parent


class LiveLab:
    def __init__(self, workdir: Path, stall_timeout_s: int = 30):
        self.workdir = workdir
        self.redis: PrivateRedis | None = None
        # The children's output goes to a file: a session-wide lab outlives each test's capture.
        self.log = open(workdir / "lab.log", "a")
        self.children = Children(log=self.log)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "labapp.settings",
            "DATABASE_URL": f"sqlite:///{workdir / 'live.sqlite3'}",
            "TPLAB_RUN_STALL_TIMEOUT_S": str(stall_timeout_s),
            "PYTHONUNBUFFERED": "1",
        }

    def start(self) -> None:
        # Never a Redis the tests did not start: ignore REDIS_URL, start a private one.
        choice = choose_redis({})
        self.redis = PrivateRedis(choice.binary).start()
        self.env["REDIS_URL"] = self.redis.url
        self.manage("migrate", "--noinput", "-v", "0")
        self.worker = self.children.start("lab worker", [sys.executable, "manage.py", "labworker"], self.env,
                                          ready_line=WORKER_READY).process
        self.children.start("web server", web_server_command("127.0.0.1", self.port), self.env)
        wait_until_ready(self.children, self.redis, "127.0.0.1", self.port, threading.Event())

    def stop(self) -> None:
        self.children.stop_all()
        if self.redis:
            self.redis.stop()
        self.log.close()

    def manage(self, *args: str) -> str:
        done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env,
                              capture_output=True, text=True)
        if done.returncode:
            raise AssertionError(f"manage.py {args[0]} failed:\n{done.stderr[-600:]}")
        return done.stdout

    def create_user(self, username: str, password: str, staff: bool = False) -> None:
        code = (
            "from django.contrib.auth import get_user_model; U = get_user_model(); "
            f"u = U.objects.create_user({username!r}, password={password!r}); "
            f"u.is_staff = {staff!r}; u.save()"
        )
        self.manage("shell", "-c", code)

    def query(self, code: str):
        """Evaluate one Python expression against the live database and return it as JSON."""
        script = f"import json; from tpworkers.models import *; print(json.dumps({code}, default=str))"
        return json.loads(self.manage("shell", "-c", script).strip().splitlines()[-1])


class Browserless:
    """A logged-in HTTP client with cookies and CSRF, built on urllib (what a browser sends), for a
    lab: a LiveLab, or anything else with its ``url`` (bench.livelab.Server: a lab already running).
    Without ``timeout_s`` a request waits as long as the server takes."""

    def __init__(self, lab: LiveLab, timeout_s: float | None = None):
        self.lab = lab
        self.timeout_s = timeout_s
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def cookie(self, name: str) -> str | None:
        return next((c.value for c in self.jar if c.name == name), None)

    def get(self, path: str):
        return self.opener.open(self.lab.url + path, timeout=self.timeout_s)

    def post(self, path: str, fields: dict):
        # doseq: a list value is one field per item, as a browser sends a multiple choice
        data = urllib.parse.urlencode({**fields, "csrfmiddlewaretoken": self.cookie("csrftoken")}, doseq=True).encode()
        request = urllib.request.Request(self.lab.url + path, data=data, headers={"Referer": self.lab.url + path})
        return self.opener.open(request, timeout=self.timeout_s)

    def login(self, username: str, password: str) -> None:
        self.get("/accounts/login/")
        response = self.post("/accounts/login/", {"username": username, "password": password})
        if "/accounts/login/" in response.geturl():
            raise AssertionError(f"login as {username} failed")

    def start_run(self, **params) -> int:
        response = self.post("/lab/runs/", params)
        match = re.search(r"/lab/runs/(\d+)/$", response.geturl())
        if not match:
            raise AssertionError(f"no run page after starting a run: {response.geturl()}")
        return int(match.group(1))

    def cookie_header(self) -> str:
        return "; ".join(f"{c.name}={c.value}" for c in self.jar)
