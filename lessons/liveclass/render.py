"""What each page of a live class shows, built once here for the views (a full page) and the
consumer (the same partial, sent over the websocket)."""
from __future__ import annotations

from django.template.loader import render_to_string

from lessons import predictions
from lessons.classroom.models import Cohort
from lessons.labs import lab_for
from lessons.liveclass import flow, tally
from lessons.liveclass.models import Round
from lessons.models import Step
from tpworkers.catalog.sizes import binary_size
from tpworkers.runs import run_rows
from tpworkers.views.charts import chart_payload

LEARNER_PAGE = "liveclass/learner.html"
CONSOLE_PAGE = "liveclass/console.html"


def learner_context(cohort: Cohort, learner, error: str = "") -> dict:
    round_ = flow.current_round(cohort)
    context = {"cohort": cohort, "round": round_, "error": error}
    if round_ is None:
        return context
    step = round_.step
    context.update(step=step, config=step.config, options=predictions.options(step),
                   unit_label=predictions.unit_label(step), numeric=tally.is_numeric(step),
                   my_vote=flow.learner_vote(round_, learner), revealed=round_.phase == Round.Phase.REVEALED)
    mine = list(round_.votes.filter(learner=learner).order_by("number"))
    context["my_votes"] = [(v.number, predictions.describe(step, v.answer), v.correct) for v in mine]
    if context["revealed"] and step.kind == Step.Kind.PREDICT:
        context["answer_text"] = predictions.answer_text(step)
    if step.kind == Step.Kind.LAB:
        firsts = [float(v.answer) for v in round_.votes.filter(number=1)]
        context["spread"] = tally.spread(firsts)
        if round_.run_id:
            context["run_rows"] = run_rows(round_.run)
            context["chart"] = class_chart(round_, context["spread"])
    return context


def class_chart(round_: Round, spread: dict | None) -> dict | None:
    """The chart of the class's run, and the class's guesses on it where the chart has their
    axis: a sweep lab predicts the time of one message size, so its guesses go on the time
    chart (median and spread, named as guesses). A ratio or a share has no axis there."""
    chart = chart_payload(round_.run, for_class=True)
    lab = lab_for(round_.step.config)
    if chart is None or spread is None or lab.unit != "us":
        return chart
    chart["guesses"] = {"metric": "time", "median": spread["median"], "low": spread["low"], "high": spread["high"],
                        "line": f"class median guess, {binary_size(lab.target)} message",
                        "band": f"class guesses, {spread['what']}"}
    return chart


def render_learner(cohort: Cohort, learner, error: str = "") -> str:
    return render_to_string(f"{LEARNER_PAGE}#live", {**learner_context(cohort, learner, error), "oob": True})


def console_tally(cohort: Cohort) -> str:
    return tally.render_tally(flow.current_round(cohort), cohort.memberships.count())


def console_context(cohort: Cohort) -> dict:
    session = flow.open_session(cohort)
    return {"cohort": cohort, "session": session, "round": session.current_round() if session else None,
            "steps": list(flow.live_steps())}


def render_console_state(cohort: Cohort, controls: bool = False) -> str:
    """The question panel (the step and phase) for the console and the projector; with
    ``controls``, the console's buttons too, so every instructor's console follows the phase
    whoever pressed."""
    if not controls:
        return render_to_string("liveclass/_question.html", {"cohort": cohort, "round": flow.current_round(cohort),
                                                              "oob": True})
    context = {**console_context(cohort), "oob": True}
    return "".join(render_to_string(template, context) for template in (
        "liveclass/_question.html", f"{CONSOLE_PAGE}#controls", f"{CONSOLE_PAGE}#end"))
