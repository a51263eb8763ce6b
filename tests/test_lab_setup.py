"""`python3 lab.py` makes its virtual environment: a failure is explained and leaves nothing half-made."""
import subprocess
import venv

import pytest

import lab


@pytest.fixture
def fresh_venv(tmp_path, monkeypatch):
    """lab.py pointed at a .venv in a temporary folder instead of the checkout's."""
    monkeypatch.setattr(lab, "VENV", tmp_path / ".venv")
    monkeypatch.setattr(lab, "PYTHON", tmp_path / ".venv" / "bin" / "python")
    monkeypatch.setattr(lab, "STAMP", tmp_path / ".venv" / ".tplab-installed")
    return tmp_path / ".venv"


def fake_python(venv_dir, pip_version_code: int, pip_install_code: int):
    """A bin/python that has torch, answers `pip --version` and `pip install` with the given codes."""
    python = venv_dir / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(
        "#!/bin/sh\n"
        'case "$*" in\n'
        '  "-c import torch") exit 0 ;;\n'
        f'  "-m pip --version") exit {pip_version_code} ;;\n'
        f'  "-m pip install"*) exit {pip_install_code} ;;\n'
        "esac\nexit 99\n"
    )
    python.chmod(0o755)


def test_it_removes_a_venv_without_pip_and_says_what_to_install(fresh_venv, monkeypatch):
    def no_ensurepip(self, context):  # what Debian's python3 does without python3-venv
        raise subprocess.CalledProcessError(1, [context.env_exe, "-m", "ensurepip"])

    monkeypatch.setattr(venv.EnvBuilder, "_setup_pip", no_ensurepip)
    monkeypatch.setattr(lab, "_has_torch", lambda python: False)
    with pytest.raises(SystemExit) as stop:
        lab.ensure_environment()
    assert "sudo apt-get install python3-venv" in str(stop.value.code)
    assert not fresh_venv.exists()  # the next run starts over instead of failing on "No module named pip"


def test_it_names_the_failed_install_step_and_leaves_it_to_retry(fresh_venv):
    fake_python(fresh_venv, pip_version_code=0, pip_install_code=3)
    with pytest.raises(SystemExit) as stop:
        lab.ensure_environment()
    assert "Installing TP Lab and its dependencies failed (pip exited with code 3" in stop.value.code
    assert "run the same command again to retry" in stop.value.code
    assert not (fresh_venv / ".tplab-installed").exists()


def test_it_marks_the_venv_installed_only_after_every_step_worked(fresh_venv):
    fake_python(fresh_venv, pip_version_code=0, pip_install_code=0)
    lab.ensure_environment()
    assert (fresh_venv / ".tplab-installed").read_text() == lab._wanted_stamp()


def test_it_installs_the_extras_tplab_extras_names_and_refuses_unknown_ones(fresh_venv, monkeypatch):
    fake_python(fresh_venv, pip_version_code=0, pip_install_code=0)
    installs = []
    monkeypatch.setattr(lab, "_pip_install", lambda what, *args: installs.append(args))
    monkeypatch.delenv("TPLAB_EXTRAS", raising=False)  # CI sets it for the whole run
    lab.ensure_environment()
    assert installs[-1] == ("-e", f"{lab.ROOT}[test]")
    monkeypatch.setenv("TPLAB_EXTRAS", "hf")  # a new extra is a new stamp: installed again
    lab.ensure_environment()
    assert installs[-1] == ("-e", f"{lab.ROOT}[test,hf]") and len(installs) == 2
    monkeypatch.setenv("TPLAB_EXTRAS", "hf,gpu")
    with pytest.raises(SystemExit) as stop:
        lab.ensure_environment()
    assert stop.value.code == "TPLAB_EXTRAS names gpu, not an extra of pyproject.toml (known: test, hf)."


def test_it_explains_a_venv_left_without_pip(fresh_venv):
    fake_python(fresh_venv, pip_version_code=1, pip_install_code=0)
    with pytest.raises(SystemExit) as stop:
        lab.ensure_environment()
    assert "has no working pip" in stop.value.code and "rm -rf" in stop.value.code
