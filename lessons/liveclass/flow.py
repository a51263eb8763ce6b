"""The live class's rules: who drives, who votes, what each press does to the saved state.

Views and the consumer only call these and publish; every refusal is a LiveRefused with the
reason in words for the person who pressed.
"""
from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone

from lessons import predictions
from lessons.classroom.models import Cohort
from lessons.labs import lab_for
from lessons.liveclass.models import LiveSession, Round, Vote
from lessons.models import Step
from tpworkers.runs import RunRefused, create_run

LIVE_KINDS = (Step.Kind.PREDICT, Step.Kind.LAB)


class LiveRefused(Exception):
    pass


def open_session(cohort: Cohort) -> LiveSession | None:
    return LiveSession.objects.filter(cohort=cohort, ended_at__isnull=True).first()


def live_steps():
    return (Step.objects.filter(kind__in=LIVE_KINDS, retired=False, lesson__isnull=False)
            .select_related("lesson").order_by("lesson__order", "order"))


def start_round(cohort: Cohort, instructor, step_id: int) -> Round:
    """Open a round on ``step_id``, starting the session if none is open."""
    step = live_steps().filter(pk=step_id).first()
    if step is None:
        raise LiveRefused("Pick a prediction or lab step of a lesson.")
    try:
        with transaction.atomic():
            session, _ = LiveSession.objects.get_or_create(cohort=cohort, ended_at=None,
                                                           defaults={"started_by": instructor})
    except IntegrityError:  # another instructor started it in the same instant
        session = open_session(cohort)
    with transaction.atomic():
        latest = session.rounds.select_for_update().order_by("-number").first()
        number = latest.number + 1 if latest else 1
        return Round.objects.create(session=session, number=number, step=step)


def current_round(cohort: Cohort) -> Round | None:
    session = open_session(cohort)
    return session.current_round() if session else None


def round_or_refuse(cohort: Cohort) -> Round:
    """The current round, for a press that acts on one (second vote, reveal, run)."""
    round_ = current_round(cohort)
    if round_ is None:
        raise LiveRefused("No round is open: pick a step first.")
    return round_


def cast_vote(round_: Round, learner, answer) -> Vote:
    """Save the learner's answer in the open vote; a second answer in the same vote is refused
    by the database's unique constraint, so two tabs racing each other still count once."""
    number = round_.vote_number
    if number is None:
        raise LiveRefused("The answer is revealed: this round takes no more votes.")
    try:
        with transaction.atomic():
            return Vote.objects.create(round=round_, learner=learner, number=number, answer=answer,
                                       correct=predictions.judge(round_.step, answer))
    except IntegrityError:
        raise LiveRefused("Your vote is already in: one vote per learner"
                          + (" in the second vote." if number == 2 else ".")) from None


def read_answer(round_: Round, data) -> object:
    """The answer from a form (a QueryDict, or what the websocket sent), checked as the lesson
    checks a guess; LiveRefused names what is wrong."""
    try:
        return predictions.read_guess(round_.step, data)
    except predictions.GuessError as exc:
        raise LiveRefused(str(exc)) from None


def open_second_vote(round_: Round) -> None:
    if round_.phase != Round.Phase.FIRST:
        raise LiveRefused("A second vote opens once, after the first and before the reveal.")
    if round_.step.kind != Step.Kind.PREDICT:
        raise LiveRefused("A lab step's guesses are judged by the run, not by a second vote.")
    round_.phase, round_.second_vote_at = Round.Phase.SECOND, timezone.now()
    round_.save(update_fields=["phase", "second_vote_at"])


def reveal(round_: Round) -> None:
    if round_.phase == Round.Phase.REVEALED:
        raise LiveRefused("This round is already revealed.")
    round_.phase, round_.revealed_at = Round.Phase.REVEALED, timezone.now()
    round_.save(update_fields=["phase", "revealed_at"])


def run_lab(cohort: Cohort, instructor) -> Round:
    """One run of the lab step's preset, owned by the instructor, on the default node; the
    class watches it (tpworkers.runs.run_to_watch lets the cohort's learners see it), once per
    round."""
    round_ = round_or_refuse(cohort)
    if round_.step.kind != Step.Kind.LAB or round_.run_id:
        raise LiveRefused("Only a lab step runs, and once per round.")
    lab = lab_for(round_.step.config)
    try:
        round_.run = create_run(instructor, lab.experiment, lab.params())
    except RunRefused as exc:
        raise LiveRefused(str(exc)) from None
    round_.save(update_fields=["run"])
    return round_


def end_session(cohort: Cohort) -> LiveSession | None:
    """End the open session; its rounds and votes stay saved."""
    session = open_session(cohort)
    if session:
        session.ended_at = timezone.now()
        session.save(update_fields=["ended_at"])
    return session


def learner_vote(round_: Round, learner) -> Vote | None:
    number = round_.vote_number
    return round_.votes.filter(learner=learner, number=number).first() if number else None


def vote_now(cohort: Cohort, learner, data) -> Vote:
    """A learner's vote in the cohort's current round, from a form's fields."""
    round_ = current_round(cohort)
    if round_ is None:
        raise LiveRefused("No question is open right now: wait for your instructor.")
    return cast_vote(round_, learner, read_answer(round_, data))
