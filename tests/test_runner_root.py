"""Started as root (issue 13, item 13), the runner says how to run the lab as an ordinary user."""
from labapp.runner import root_note


def test_it_tells_root_how_to_run_as_a_user():
    note = root_note(0)
    assert "Running as root" in note and "sudo -u tplab python3 lab.py run" in note


def test_it_says_nothing_to_an_ordinary_user():
    assert root_note(1000) == ""
