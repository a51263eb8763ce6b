"""The runner's children: output relayed under their name, held back until ready, exits explained."""
import os
import sys

from labapp.children import Children, exit_report
from labapp.runner import WORKER_READY


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_it_explains_a_child_that_exited_with_its_last_lines(capsys):
    children = Children()
    child = children.start("toy", _python("import sys; print('about to fail'); sys.exit(3)"), dict(os.environ))
    child.process.wait()
    child.finish_output()
    assert children.first_exited() is child
    assert child.exit_report() == "The toy exited with code 3; its last lines:\n    about to fail"
    assert "toy | about to fail" in capsys.readouterr().out


def test_it_holds_back_stdout_until_the_ready_line_and_keeps_it_in_the_tail(capsys):
    code = ("import sys, time; print('a banner', flush=True); time.sleep(0.3); "
            "print('tplab@node ready.', file=sys.stderr, flush=True); time.sleep(0.3); print('a task ran')")
    child = Children().start("worker", _python(code), dict(os.environ), ready_line=WORKER_READY)
    assert child.still_starting
    child.process.wait()
    child.finish_output()
    out, err = capsys.readouterr()
    assert "a banner" not in out and "worker | a task ran" in out
    assert "worker | tplab@node ready." in err
    assert not child.still_starting and "a banner" in child.tail


def test_it_names_the_signal_that_killed_a_child():
    assert exit_report("web server", -9, ["", " "]) == "The web server was killed by signal 9 (Killed)"


def test_it_writes_to_a_log_instead_of_the_terminal_when_given_one(tmp_path, capsys):
    with open(tmp_path / "lab.log", "a") as log:
        child = Children(log=log).start("toy", _python("print('to the log')"), dict(os.environ))
        child.process.wait()
        child.finish_output()
    assert (tmp_path / "lab.log").read_text() == "toy | to the log\n"
    assert capsys.readouterr().out == ""
