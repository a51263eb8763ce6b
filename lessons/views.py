from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from labapp.htmx import render_page
from lessons import predictions
from lessons.models import ChecklistTick, Lesson, Progress, RecallRating, Reveal, Step, TeachBack
from lessons.pagequeries import lesson_with_live_steps
from lessons.review.services import rate_from_lesson
from lessons.state import course_progress, note_finished, remember_position, step_context

PAGE = "lessons/step.html"
# The element htmx swaps -> the partial that answers it; the result boxes live in their step's template.
FRAGMENTS = {"step": f"{PAGE}#step", "lesson-main": f"{PAGE}#lesson_main",
             "calc-result": "lessons/steps/calculator.html#calc_result",
             "torchrun-result": "lessons/steps/torchrun.html#torchrun_result"}


def _get_step(slug: str, key: str) -> Step:
    """The live step, with its lesson's live steps as ``step.lesson.live_step_list`` for step_context."""
    lesson = lesson_with_live_steps(slug)
    step = next((s for s in lesson.live_step_list if s.key == key), None) if lesson else None
    if step is None:
        raise Http404("No such step")
    return step


def _respond(request, step: Step, status: int = 200, opened: list[str] | None = None, **extra):
    """The whole page without htmx; with htmx, the fragment of the same template it targets."""
    context = step_context(request.user, step, request.GET, opened) | extra
    return render_page(request, PAGE, context, FRAGMENTS, status)


def _after_post(request, step: Step):
    """htmx swaps the step in place; a plain form follows the redirect back to the step."""
    note_finished(request.user, step.lesson)
    if request.htmx:
        return _respond(request, step)
    return redirect("lesson_step", slug=step.lesson.slug, key=step.key)


@login_required
def lesson_list(request):
    lessons = list(Lesson.objects.all())
    course_progress(request.user, lessons)
    return render(request, "lessons/index.html", {"lessons": lessons})


@login_required
def lesson_resume(request, slug: str):
    """Back where the learner left off; the first step on a first visit."""
    lesson = Lesson.objects.filter(slug=slug).first()
    if lesson is None or not lesson.live_steps().exists():
        raise Http404("No such lesson")
    progress = Progress.objects.filter(learner=request.user, lesson=lesson).first()
    step = progress.current_step if progress and progress.current_step and not progress.current_step.retired \
        else lesson.live_steps().first()
    return redirect("lesson_step", slug=slug, key=step.key)


@login_required
def step_page(request, slug: str, key: str):
    step = _get_step(slug, key)
    progress = remember_position(request.user, step)
    return _respond(request, step, opened=progress.visited)


@login_required
@require_POST
def guess(request, slug: str, key: str):
    step = _get_step(slug, key)
    if step.kind not in (Step.Kind.PREDICT, Step.Kind.LAB):
        raise Http404("This step takes no guess")
    refusal = predictions.why_closed(request.user, step)
    if refusal:
        return _respond(request, step, status=409, error=refusal)
    try:
        answer = predictions.read_guess(step, request.POST)
    except predictions.GuessError as exc:
        return _respond(request, step, status=400, error=str(exc))
    try:
        predictions.commit(request.user, step, answer)
    except predictions.GuessRefused as exc:
        return _respond(request, step, status=409, error=str(exc))
    return _after_post(request, step)


@login_required
@require_POST
def reveal(request, slug: str, key: str):
    step = _get_step(slug, key)
    if step.kind != Step.Kind.PREDICT:
        raise Http404("Only a prediction has a reveal")
    if not predictions.has_guessed(request.user, step):
        return _respond(request, step, status=409, error="Commit a guess first: the answer opens only after you have made one.")
    Reveal.objects.get_or_create(learner=request.user, step=step)
    return _after_post(request, step)


@login_required
@require_POST
def rate(request, slug: str, key: str):
    step = _get_step(slug, key)
    if step.kind != Step.Kind.RECALL or request.POST.get("rating") not in RecallRating.Rating.values:
        return _respond(request, step, status=400, error="Choose Again, Hard, Good or Easy.")
    RecallRating.objects.create(learner=request.user, step=step, rating=request.POST["rating"])
    rate_from_lesson(request.user, step, request.POST["rating"], timezone.now())  # the review queue's card
    return _after_post(request, step)


@login_required
@require_POST
def teachback(request, slug: str, key: str):
    step = _get_step(slug, key)
    text = request.POST.get("text", "").strip()
    if step.kind != Step.Kind.TEACHBACK or len(text) < 20:
        return _respond(request, step, status=400, error="Write your explanation first (a few sentences).")
    TeachBack.objects.get_or_create(learner=request.user, step=step, defaults={"text": text})  # first text kept
    return _after_post(request, step)


@login_required
@require_POST
def teachback_check(request, slug: str, key: str):
    step = _get_step(slug, key)
    record = TeachBack.objects.filter(learner=request.user, step=step).first()
    if record is None:
        return _respond(request, step, status=409, error="Save your own explanation before the checklist.")
    items = range(len(step.config["checklist"]))
    record.checked = [i for i in items if str(i) in request.POST.getlist("item")]
    record.save(update_fields=["checked", "updated_at"])
    ChecklistTick.objects.create(learner=request.user, step=step, checked=record.checked)
    return _after_post(request, step)
