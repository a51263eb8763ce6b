"""The instructor's console at /teach/live/<cohort>/ and the projector view. Every press is a
plain form (works without JavaScript) followed by one broadcast to the class; htmx posts it when
JavaScript is on, and the console's new buttons come back over its socket like everyone's."""
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from lessons.classroom.views.access import get_cohort_for_user  # drivers: the dashboard's own check
from lessons.liveclass import flow
from lessons.liveclass.events import CONSOLE, LEARNERS, StateEvent, TallyEvent, publish
from lessons.liveclass.render import CONSOLE_PAGE, console_context, console_tally


def _console(request, cohort, error: str = "", status: int = 200):
    return render(request, CONSOLE_PAGE, {**console_context(cohort), "tab": "live", "tally": console_tally(cohort),
                                          "error": error}, status=status)


def _broadcast(cohort) -> None:
    for audience in (LEARNERS, CONSOLE):
        publish(cohort.pk, audience, StateEvent(cohort.pk))
    publish(cohort.pk, CONSOLE, TallyEvent(cohort.pk, console_tally(cohort)))


def _press(request, cohort_id: int, action):
    cohort = get_cohort_for_user(request.user, cohort_id)
    try:
        action(cohort)
    except flow.LiveRefused as exc:
        if request.htmx:  # said in place: the buttons stay as they were
            return render(request, f"{CONSOLE_PAGE}#error", {"error": str(exc), "oob": True}, status=409)
        return _console(request, cohort, error=str(exc), status=409)
    _broadcast(cohort)
    if request.htmx:  # every console, this one too, gets its new buttons over the socket
        return render(request, f"{CONSOLE_PAGE}#error", {"oob": True})  # an earlier refusal goes
    return redirect("live_console", cohort_id=cohort.pk)


@login_required
def console(request, cohort_id: int):
    return _console(request, get_cohort_for_user(request.user, cohort_id))


@login_required
def screen(request, cohort_id: int):
    cohort = get_cohort_for_user(request.user, cohort_id)
    return render(request, "liveclass/screen.html", {"cohort": cohort, "round": flow.current_round(cohort),
                                                     "tally": console_tally(cohort)})


@login_required
@require_POST
def open_round(request, cohort_id: int):
    try:
        step_id = int(request.POST.get("step", ""))
    except ValueError:
        step_id = 0
    return _press(request, cohort_id, lambda cohort: flow.start_round(cohort, request.user, step_id))


@login_required
@require_POST
def second_vote(request, cohort_id: int):
    return _press(request, cohort_id, lambda cohort: flow.open_second_vote(flow.round_or_refuse(cohort)))


@login_required
@require_POST
def reveal(request, cohort_id: int):
    return _press(request, cohort_id, lambda cohort: flow.reveal(flow.round_or_refuse(cohort)))


@login_required
@require_POST
def end(request, cohort_id: int):
    return _press(request, cohort_id, flow.end_session)


@login_required
@require_POST
def run_lab(request, cohort_id: int):
    return _press(request, cohort_id, lambda cohort: flow.run_lab(cohort, request.user))
