#!/usr/bin/env python3
"""TP Lab's two commands, for a fresh machine with only Python 3.11+:

    python3 lab.py run     start the lab (Redis, a lab worker, the web server) and print its URL
    python3 lab.py test    run the whole test suite

and, on each further GPU node of a cluster (REDIS_URL and DATABASE_URL pointing at the lab's):

    python3 lab.py worker --cluster NAME

Both first make sure the project's virtual environment (.venv, ignored by git) has what
pyproject.toml asks for. torch: a torch already importable by this Python (a CUDA build, say)
is kept and shared with the venv; otherwise TPLAB_TORCH (default "torch==2.13.0") is installed.
TPLAB_EXTRAS names optional extras of pyproject.toml to install as well ("hf": transformers).
"""

import hashlib
import os
import shutil
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
PYTHON = VENV / "bin" / "python"
STAMP = VENV / ".tplab-installed"


def _has_torch(python: str) -> bool:
    probe = subprocess.run([python, "-c", "import torch"], capture_output=True)
    return probe.returncode == 0


def _extras() -> list[str]:
    """The extras to install: always "test", plus those TPLAB_EXTRAS names (comma-separated)."""
    known = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    wanted = [name.strip() for name in os.environ.get("TPLAB_EXTRAS", "").split(",") if name.strip()]
    unknown = [name for name in wanted if name not in known]
    if unknown:
        sys.exit(f"TPLAB_EXTRAS names {', '.join(unknown)}, not an extra of pyproject.toml "
                 f"(known: {', '.join(known)}).")
    return ["test", *[name for name in wanted if name != "test"]]


def _wanted_stamp() -> str:
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes())
    digest.update(",".join(_extras()).encode())  # a new extra means installing again
    return digest.hexdigest()


def _create_venv() -> None:
    keep_torch = _has_torch(sys.executable)
    print(f"Creating {VENV.name}/" + (" (sharing this Python's torch)" if keep_torch else ""), flush=True)
    try:
        venv.EnvBuilder(with_pip=True, system_site_packages=keep_torch).create(VENV)
    except BaseException as exc:
        # A .venv without pip would fail every later run with "No module named pip".
        shutil.rmtree(VENV, ignore_errors=True)
        if isinstance(exc, (subprocess.CalledProcessError, OSError)):
            version = f"{sys.version_info.major}.{sys.version_info.minor}"
            sys.exit(f"Could not create {VENV} with pip in it ({exc}).\n"
                     f"On Debian or Ubuntu this Python lacks ensurepip: sudo apt-get install python3-venv "
                     f"(or python{version}-venv), then run this command again.")
        raise


def _pip_install(what: str, *args: str) -> None:
    print(f"Installing {what} …", flush=True)
    code = subprocess.run([str(PYTHON), "-m", "pip", "install", "--disable-pip-version-check", "-q", *args]).returncode
    if code != 0:
        sys.exit(f"Installing {what} failed (pip exited with code {code}; its message is above). "
                 "Nothing was marked as installed: run the same command again to retry.")


def ensure_environment() -> None:
    if sys.version_info < (3, 11):
        sys.exit(f"TP Lab needs Python 3.11 or newer; this is {sys.version.split()[0]}.")
    if not PYTHON.exists():
        _create_venv()
    if STAMP.exists() and STAMP.read_text() == _wanted_stamp():
        return
    if subprocess.run([str(PYTHON), "-m", "pip", "--version"], capture_output=True).returncode != 0:
        sys.exit(f"{VENV} has no working pip (an interrupted creation?). Remove it (rm -rf {VENV}) "
                 "and run this command again.")
    if not _has_torch(str(PYTHON)):
        torch_spec = os.environ.get("TPLAB_TORCH", "torch==2.13.0")
        _pip_install(torch_spec, torch_spec)
    _pip_install("TP Lab and its dependencies", "-e", f"{ROOT}[{','.join(_extras())}]")
    STAMP.write_text(_wanted_stamp())


def run_tests(pytest_args: list[str]) -> int:
    """SQLite always; then the database tests again on PostgreSQL when DATABASE_URL names one."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    code = subprocess.run([str(PYTHON), "-m", "pytest", *pytest_args], cwd=ROOT, env=env).returncode
    database_url = os.environ.get("DATABASE_URL", "")
    if database_url.startswith(("postgres://", "postgresql://")):
        print(f"\nDatabase tests again on PostgreSQL ({database_url.split('@')[-1]}):", flush=True)
        pg_env = {**os.environ, "TPLAB_DB_TESTS_ONLY": "1"}
        pg_code = subprocess.run([str(PYTHON), "-m", "pytest", *pytest_args], cwd=ROOT, env=pg_env).returncode
        code = code or pg_code
    return code


def main() -> int:
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command not in ("run", "test", "worker"):
        print(__doc__)
        return 2
    ensure_environment()
    os.chdir(ROOT)
    if command == "run":
        # Become the runner, so Ctrl-C reaches it alone and it can stop what it started.
        os.execv(PYTHON, [str(PYTHON), "-m", "labapp.runner", *sys.argv[2:]])
    if command == "worker":
        for name in ("REDIS_URL", "DATABASE_URL"):
            if not os.environ.get(name):
                sys.exit(f"{name} must point at the lab's {'Redis' if name == 'REDIS_URL' else 'database'} "
                         "for a worker on another node.")
        os.execv(PYTHON, [str(PYTHON), "manage.py", "labworker", *sys.argv[2:]])
    return run_tests(sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
