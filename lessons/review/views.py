"""The review queue: one item at a time, answered before it is revealed.

A question carries a signed token naming the item, the variant and when it was shown, so the
answer is judged against exactly what was asked, timed from when it appeared, and recorded
once (the first answer of each showing is kept). Without JavaScript every answer is a POST
and a redirect to its result; with htmx each answer and each next item is one swap of #review.
"""
import random
from datetime import datetime, timedelta

from django.contrib.auth.decorators import login_required
from django.core import signing
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from labapp.htmx import render_page
from lessons import predictions
from lessons.models import RecallRating, Step
from lessons.review import history, scheduling, services
from lessons.review.items import KINDS, RULE, fresh_question, grade, question, rating_for
from lessons.review.models import ReviewLog

PAGE = "review/queue.html"
TOKEN_SALT = "lessons.review.question"
TOKEN_MAX_AGE = timedelta(days=1)


def question_token(step: Step, seed: int | None, shown_at: datetime) -> str:
    return signing.dumps({"step": step.pk, "seed": seed, "shown": shown_at.isoformat()}, salt=TOKEN_SALT)


def _read_token(token: str) -> tuple[Step, int | None, datetime]:
    data = signing.loads(token, salt=TOKEN_SALT, max_age=TOKEN_MAX_AGE)
    return _get_item(data["step"]), data["seed"], datetime.fromisoformat(data["shown"])


def _get_item(step_id: int) -> Step:
    """A live recall or prediction step: every learner may review any lesson's items."""
    step = Step.objects.select_related("lesson").filter(pk=step_id, retired=False, kind__in=KINDS).first()
    if step is None:
        raise Http404("No such review item")
    return step


def _get_log_for_user(learner, log_id: int) -> ReviewLog:
    log = ReviewLog.objects.select_related("step__lesson").filter(pk=log_id, learner=learner).first()
    if log is None:
        raise Http404("No such review")
    return log


def _respond(request, context: dict, status: int = 200):
    return render_page(request, PAGE, context, {"review": f"{PAGE}#item"}, status)


def _queue_context(learner, now: datetime) -> dict:
    return {"due": services.due_count(learner, now), "new_left": services.new_left_today(learner, now),
            "new_waiting": services.new_steps(learner).count(), "rule": RULE}


def _asking(learner, step: Step, now: datetime, seed: int | None = None, token: str | None = None) -> dict:
    """The context that asks ``step``: a fresh variant, or — given its token — the one shown."""
    q = question(step, seed) if token else fresh_question(step, random.Random(), services.previous_seed(learner, step))
    return {"question": q, "token": token or question_token(step, q.seed, now),
            "ratings": RecallRating.Rating.choices,
            "is_new": not step.review_cards.filter(learner=learner, due__isnull=False).exists()}


def _result_context(log: ReviewLog, kept: bool) -> dict:
    q = question(log.step, log.seed)
    return {"result": log, "question": q, "kept": kept,
            "your_text": predictions.describe(q.step, log.answer) if log.answer is not None else None,
            "answer_text": None if q.recall else q.answer_text()}


def _next_item(request, error: str | None = None, status: int = 200):
    """The queue as it is now: the next item asked, or what comes when."""
    now = timezone.now()
    context = _queue_context(request.user, now) | {"error": error}
    step = services.next_step(request.user, now)
    if step:
        context |= _asking(request.user, step, now)
    else:
        context["coming"] = next(((day, n) for day, n in history.due_by_day(request.user, now) if n), None)
    return _respond(request, context, status=status)


@login_required
def queue(request):
    return _next_item(request)


@login_required
@require_POST
def answer(request):
    now = timezone.now()
    try:
        step, seed, shown_at = _read_token(request.POST.get("token", ""))
    except signing.SignatureExpired:
        return _next_item(request, "That question was shown more than a day ago, so it no longer counts: "
                                   "here is the queue as it is now.", status=400)
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return _next_item(request, "That answer did not come from a question this site showed you.", status=400)
    kept = ReviewLog.objects.filter(learner=request.user, step=step, shown_at=shown_at).first()
    if kept:
        return _show_result(request, kept, kept=True)
    q = question(step, seed)
    extra = {}
    if q.recall:
        rating = services.LESSON_RATINGS.get(request.POST.get("rating", ""))
        if rating is None:
            return _again(request, step, now, seed, "Choose Again, Hard, Good or Easy.")
    else:
        try:
            graded = grade(q, request.POST)
        except predictions.GuessError as exc:
            return _again(request, step, now, seed, str(exc))
        rating = rating_for(graded, now - shown_at)
        extra = {"answer": graded.answer, "correct": graded.correct, "seed": q.seed, "variant": q.names}
    log, created = services.record_review(request.user, step, rating, now, source=ReviewLog.Source.QUEUE,
                                          shown_at=shown_at, **extra)
    return _show_result(request, log, kept=not created)


def _show_result(request, log: ReviewLog, kept: bool):
    if request.htmx:
        return _respond(request, _queue_context(request.user, timezone.now()) | _result_context(log, kept)
                        | {"oob_nav": True})
    return redirect(reverse("review_result", args=[log.pk]) + ("?kept=1" if kept else ""))


def _again(request, step: Step, now: datetime, seed: int | None, error: str):
    """The same question again, with its token (the same showing, so its timing holds) and
    what was wrong."""
    context = _queue_context(request.user, now) | _asking(request.user, step, now, seed, request.POST["token"])
    return _respond(request, context | {"error": error}, status=400)


@login_required
def result(request, log_id: int):
    log = _get_log_for_user(request.user, log_id)
    context = _queue_context(request.user, timezone.now()) | _result_context(log, request.GET.get("kept") == "1")
    return _respond(request, context)


@login_required
@require_POST
def suspend(request, step_id: int):
    """Suspend (or, with suspend=0, resume) an item; its card and log stay."""
    step = _get_item(step_id)
    suspended = request.POST.get("suspend", "1") != "0"
    services.set_suspended(request.user, step, suspended)
    if request.htmx and request.htmx.target == "review":
        return _next_item(request)
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure()):
        target = reverse("review_history")
    return redirect(target)


@login_required
def history_page(request):
    now = timezone.now()
    return render(request, "review/history.html", {
        "items": history.item_rows(request.user, now), "reviews": history.recent_reviews(request.user),
        "chart": history.chart_bars(history.due_by_day(request.user, now)), "today": scheduling.day_bounds(now)[0],
        "due": services.due_count(request.user, now)})
