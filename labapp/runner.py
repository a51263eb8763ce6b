"""``python3 lab.py run``: start everything the lab needs, print the URL, stop it all on Ctrl-C.

Started, in order: Redis (unless REDIS_URL is set), migrations, lesson content, the instructor
account, one lab worker (Celery, solo pool) and daphne (ASGI). The URL is printed last, once the
web server listens and the worker has said it is ready. A part that dies at start-up stops the
lab with the reason; once it runs, a part that dies is restarted with its cause printed, and
Redis's users with it (labapp.supervise); a part that keeps dying stops everything.
"""

import argparse
import errno
import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

from labapp.children import ROOT, Children
from labapp.redis_server import PrivateRedis, choose_redis, free_port, redacted
from labapp.supervise import GaveUp, Part, Supervisor, first_death

WORKER_READY = r"@\S+ ready\.$"  # Celery's "tplab@host ready." once it consumes its queue
ANY_ADDRESS = ("0.0.0.0", "::")


def debug_off_beyond_loopback(host: str, environ: dict) -> str:
    """Django's debug pages show the settings (REDIS_URL, DATABASES) and the URLconf to whoever
    reaches the port: DEBUG stays on loopback. Returns what to say when it is turned off;
    RuntimeError when DJANGO_DEBUG asks for it on a wider address."""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may be reached from other machines
        loopback = False
    if loopback:
        return ""
    if environ.get("DJANGO_DEBUG", "").strip().lower() in ("1", "true", "yes", "on"):
        raise RuntimeError(f"DJANGO_DEBUG is on and --host {host} serves other machines: Django's debug pages "
                           "would show them the settings (REDIS_URL, DATABASES). Debug on 127.0.0.1, or unset DJANGO_DEBUG")
    return f"Serving other machines on {host}: DEBUG is off (its error pages show the settings)."


def root_note(euid: int) -> str:
    """What to say when started as root. The worker runs learners' experiments (torch, rank
    processes) and Celery warns against superuser workers; dropping privileges here is not safe,
    since the database, the secret key and .venv this run made belong to root."""
    if euid != 0:
        return ""
    return ("Running as root: the lab worker runs learners' experiments with root's rights. Run the lab as an "
            "ordinary user instead: `sudo useradd -m tplab`, a clone of this repository owned by tplab, then "
            "`sudo -u tplab python3 lab.py run` (GPU nodes: add tplab to the group owning /dev/nvidia*, if any).")


def manage(*args: str, env: dict) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True)


def check_can_listen(host: str, port: int) -> None:
    """Refuse a port another server holds: daphne would fail, and its URL would show the other one."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as daphne does
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise RuntimeError(
                    f"port {port} on {host} is already in use by another program; choose another "
                    f"with --port (e.g. --port {port + 1}, or --port 0 for any free port)"
                ) from None
            raise RuntimeError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def _own_addresses() -> list[str]:
    """Addresses other machines may reach this one at: what its name resolves to, and the one its
    default route leaves from (connect() on a UDP socket picks a route and sends nothing)."""
    found = []
    try:
        found += [info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None)]
    except OSError:
        pass
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1 (RFC 5737): never a real host
            found.append(probe.getsockname()[0])
    except OSError:
        pass
    # Loopback is served anyway; a link-local address (fe80::…%eth0) is no host name.
    return [address for address in found if not address.startswith("127.") and address != "::1" and "%" not in address]


def _in_url(name: str) -> str:
    return f"[{name}]" if ":" in name else name


def served_names(host: str) -> list[str]:
    """The host names a browser may use for daphne bound to ``host``, as ALLOWED_HOSTS wants them."""
    names = [host]
    if host in ANY_ADDRESS:
        names = ["127.0.0.1", "localhost", socket.gethostname(), socket.getfqdn(), *_own_addresses()]
    return list(dict.fromkeys(_in_url(name) for name in names))


def urls(host: str, port: int) -> tuple[str, list[str]]:
    """The URL to open on this machine, and those for other machines when bound to every address."""
    if host not in ANY_ADDRESS:
        return f"http://{_in_url(host)}:{port}/", []
    others = [name for name in served_names(host) if name not in ("127.0.0.1", "localhost")]
    return f"http://127.0.0.1:{port}/", [f"http://{name}:{port}/" for name in others]


def wait_until_ready(children: Children, redis: PrivateRedis | None, host: str, port: int,
                     stop: threading.Event, timeout_s: float = 120) -> None:
    """Until daphne answers on the port and every child with a ready line printed it."""
    deadline = time.monotonic() + timeout_s
    while not stop.is_set():
        death = first_death(children, redis)
        if death:
            raise RuntimeError(death)
        waiting = [child.name for child in children.started if child.still_starting]
        if not _answers(host, port):
            waiting.append(f"the web server on port {port}")
        if not waiting:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"not ready within {timeout_s:.0f} s: {', '.join(waiting)}")
        time.sleep(0.2)


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def web_server_command(host: str, port: int) -> list[str]:
    """daphne for the lab's ASGI app. A whole class opening one run at once makes its sockets
    queue for their login check; daphne's default 5 s to finish a websocket handshake dropped
    the late ones, so they get 30 s. More than one of these may serve one lab (README: "A class")."""
    return [sys.executable, "-m", "daphne", "-b", host, "-p", str(port), "--websocket_connect_timeout", "30",
            "labapp.asgi:application"]


def start_lab(supervisor: Supervisor, env: dict, host: str, port: int) -> None:
    manage("migrate", "--noinput", "-v", "0", env=env)
    manage("loadlessons", env=env)
    manage("ensure_instructor", env=env)
    if env.get("TPLAB_MODE") == "production":
        manage("collectstatic", "--noinput", "-v", "0", env=env)
    supervisor.add(Part("lab worker", [sys.executable, "manage.py", "labworker"], env, ready_line=WORKER_READY))
    supervisor.add(Part("web server", web_server_command(host, port), env))


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lab.py run", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="0.0.0.0 serves other machines too")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    options = parser.parse_args(argv)

    stop = threading.Event()
    stopped_by = []
    for signum, words in ((signal.SIGINT, "Ctrl-C"), (signal.SIGTERM, "SIGTERM")):
        signal.signal(signum, lambda signum, frame, words=words: (stopped_by.append(words), stop.set()))

    children = Children()
    state_dir = tempfile.mkdtemp(prefix="tplab-run-")
    supervisor = None  # made once Redis is up: it restarts a private one that dies
    exit_code = 0
    why = "The lab was stopped"
    try:
        port = options.port or free_port(options.host)
        check_can_listen(options.host, port)
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "labapp.settings", "PYTHONUNBUFFERED": "1",
               "TPLAB_RUN_HOSTS": ",".join(served_names(options.host))}
        if note := root_note(os.geteuid()):
            print(note, file=sys.stderr, flush=True)
        if note := debug_off_beyond_loopback(options.host, os.environ):
            env["DJANGO_DEBUG"] = "0"
            print(note, flush=True)
        choice = choose_redis(os.environ)
        redis = None if choice.kind == "external" else PrivateRedis(choice.binary).start()
        supervisor = Supervisor(children, state_dir, redis, say=_say)
        env["REDIS_URL"] = redis.url if redis else choice.url
        print(f"Redis: {choice.describe()} at {redacted(env['REDIS_URL'])}", flush=True)

        start_lab(supervisor, env, options.host, port)
        wait_until_ready(children, redis, options.host, port, stop)
        if not stop.is_set():
            here, elsewhere = urls(options.host, port)
            if elsewhere:
                print(f"\nFrom other machines: {', '.join(elsewhere)}\n(reached by another name? add it to "
                      "DJANGO_ALLOWED_HOSTS)", flush=True)
            print(f"\nTP Lab is running at {here}  (Ctrl-C stops everything)\n", flush=True)
        while not stop.wait(0.3):
            supervisor.check()
    except GaveUp as exc:
        _say(f"{exc}\nStopping the lab.")
        why = f"The lab stopped (its {exc.part} kept dying)"
        exit_code = 1
    except (subprocess.CalledProcessError, RuntimeError, OSError) as exc:
        if not stop.is_set():  # a Ctrl-C during start-up also ends a migration: no error then
            _say(f"Could not start the lab: {exc}")
            exit_code = 1
    finally:
        if stopped_by:
            why = f"The lab was stopped ({stopped_by[0]} on python3 lab.py run)"
        if supervisor is not None:
            supervisor.stop_all(f"{why} while this run was measuring.")
        shutil.rmtree(state_dir, ignore_errors=True)
        print("Stopped every process the lab started.", flush=True)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
