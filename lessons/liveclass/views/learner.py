"""The learner's page at /class/<code>/: it follows the instructor's step over the websocket;
without JavaScript the vote is a plain form and the page reloads itself."""
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from lessons.liveclass import flow
from lessons.liveclass.events import CONSOLE, TallyEvent, publish
from lessons.liveclass.render import LEARNER_PAGE, console_tally, learner_context
from lessons.liveclass.views.access import get_class_for_learner


@login_required
def live_class(request, code: str):
    cohort = get_class_for_learner(request.user, code)
    return render(request, LEARNER_PAGE, learner_context(cohort, request.user))


@login_required
@require_POST
def vote(request, code: str):
    cohort = get_class_for_learner(request.user, code)
    try:
        flow.vote_now(cohort, request.user, request.POST)
    except flow.LiveRefused as exc:
        return render(request, LEARNER_PAGE, learner_context(cohort, request.user, error=str(exc)), status=409)
    publish(cohort.pk, CONSOLE, TallyEvent(cohort.pk, console_tally(cohort)))
    return redirect("live_class", code=cohort.code)
