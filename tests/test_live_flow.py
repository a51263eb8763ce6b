"""The live class's rules for the console's presses (lessons.liveclass.flow), without a request:
what a press needs open, and when the class's lab runs."""
import pytest

from lessons.liveclass import flow
from tests.live_class_helpers import CHOICE, cohort, course, fast_password_hashing, open_round  # noqa: F401

LAB = ("the-wire", "lab-pair")


def test_it_refuses_a_press_on_a_round_before_one_is_open(cohort):
    with pytest.raises(flow.LiveRefused, match="No round is open: pick a step first."):
        flow.round_or_refuse(cohort)


def test_it_finds_the_round_a_press_acts_on(cohort, instructor):
    round_ = open_round(cohort, instructor, CHOICE)
    assert flow.round_or_refuse(cohort) == round_


def test_it_runs_no_lab_before_a_round_is_open(cohort, instructor, lab_node):
    with pytest.raises(flow.LiveRefused, match="No round is open"):
        flow.run_lab(cohort, instructor)


def test_it_runs_no_lab_for_a_prediction_step(cohort, instructor, lab_node):
    round_ = open_round(cohort, instructor, CHOICE)
    with pytest.raises(flow.LiveRefused, match="Only a lab step runs, and once per round."):
        flow.run_lab(cohort, instructor)
    round_.refresh_from_db()
    assert round_.run is None


def test_it_runs_the_lab_of_a_round_once(cohort, instructor, lab_node):
    round_ = open_round(cohort, instructor, LAB)
    run = flow.run_lab(cohort, instructor).run
    round_.refresh_from_db()
    assert round_.run == run and run.owner == instructor and run.node == lab_node
    with pytest.raises(flow.LiveRefused, match="once per round"):
        flow.run_lab(cohort, instructor)
    assert instructor.runs.count() == 1


def test_it_says_why_the_lab_could_not_run(cohort, instructor):
    round_ = open_round(cohort, instructor, LAB)
    with pytest.raises(flow.LiveRefused, match="No lab worker has registered yet"):  # no node: tpworkers.runs refused
        flow.run_lab(cohort, instructor)
    round_.refresh_from_db()
    assert round_.run is None
