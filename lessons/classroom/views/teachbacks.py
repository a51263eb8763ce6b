"""A step's teach-backs side by side with the model answer; an instructor's comment, the
exemplary mark; and the learner's consent to share their own."""
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from lessons.classroom import teachbacks
from lessons.classroom.cohort_data import live_steps
from lessons.classroom.views.access import get_cohort_for_user
from lessons.models import Step, TeachBack

PAGE = "classroom/teachbacks.html"


def _get_teachback_for_cohort(cohort, teachback_id: int) -> TeachBack:
    record = teachbacks.cohort_teachback(cohort, teachback_id)
    if record is None:
        raise Http404("No such teach-back in this cohort")
    return record


@login_required
def cohort_teachbacks(request, cohort_id: int):
    cohort = get_cohort_for_user(request.user, cohort_id)
    steps = [step for step in live_steps() if step.kind == Step.Kind.TEACHBACK]
    chosen = next((step for step in steps if str(step.id) == request.GET.get("step")), steps[0] if steps else None)
    counts = teachbacks.counts_per_step(cohort)
    context = {"cohort": cohort, "tab": "teachbacks", "steps": [(step, counts.get(step.id, 0)) for step in steps],
               "chosen": chosen, "cards": teachbacks.cards(cohort, [chosen]) if chosen else []}
    return render(request, PAGE, context)


def _after_feedback(request, cohort, record: TeachBack, error: str = ""):
    """htmx swaps the one teach-back; a plain form goes back to it on the page."""
    if request.htmx:
        card = teachbacks.cards(cohort, [record.step], only=record)[0]
        return render(request, PAGE + "#card", {"cohort": cohort, "card": card, "error": error},
                      status=400 if error else 200)
    if error:
        messages.error(request, error)
    url = reverse("teach_teachbacks", args=[cohort.pk])
    return redirect(f"{url}?step={record.step_id}#tb-{record.pk}")


@login_required
@require_POST
def teachback_exemplary(request, cohort_id: int, teachback_id: int):
    cohort = get_cohort_for_user(request.user, cohort_id)
    record = _get_teachback_for_cohort(cohort, teachback_id)
    try:
        teachbacks.set_exemplary(cohort, record, request.user, request.POST.get("exemplary") == "1")
    except teachbacks.FeedbackRefused as refused:
        return _after_feedback(request, cohort, record, str(refused))
    return _after_feedback(request, cohort, record)


@login_required
@require_POST
def teachback_comment(request, cohort_id: int, teachback_id: int):
    cohort = get_cohort_for_user(request.user, cohort_id)
    record = _get_teachback_for_cohort(cohort, teachback_id)
    try:
        teachbacks.add_comment(cohort, record, request.user, request.POST.get("text", ""))
    except teachbacks.FeedbackRefused as refused:
        return _after_feedback(request, cohort, record, str(refused))
    return _after_feedback(request, cohort, record)


@login_required
@require_POST
def teachback_share(request, teachback_id: int):
    """The author says yes (or no longer) to showing their teach-back to the class."""
    record = TeachBack.objects.filter(pk=teachback_id, learner=request.user).select_related("step__lesson").first()
    if record is None:
        raise Http404("No such teach-back of yours")
    teachbacks.set_consent(record, request.POST.get("shared") == "1")
    return redirect("lesson_step", slug=record.step.lesson.slug, key=record.step.key)
