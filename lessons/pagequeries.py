"""The reads behind every lesson step page, written as SQL.

A class reloads step pages all at once, and on these reads Django's ORM spent far longer
building the SQL than the database spent answering it: the lesson with its steps 0.62 ms against
0.25 ms as SQL, the learner's position 0.32 ms against 0.07 ms (medians in one process on the
2-core dev VM, SQLite, 2026-11-27; bench/bench_pages.py has the figure as served). The queries
return model instances (``Manager.raw``), so callers see the same objects as before. Each is a
plain SELECT that SQLite and PostgreSQL both read; "order" is quoted because it is an SQL word.
"""

from lessons.models import Guess, Lesson, Progress, Reveal, Step


def lesson_with_live_steps(slug: str) -> Lesson | None:
    """The lesson ``slug`` with its live steps in order as ``lesson.live_step_list``; every step's
    ``lesson`` is this one instance. Two queries, whatever the lesson's length."""
    lesson = next(iter(Lesson.objects.raw("SELECT * FROM lessons_lesson WHERE slug = %s", [slug])), None)
    if lesson is None:
        return None
    lesson.live_step_list = list(Step.objects.raw(
        'SELECT * FROM lessons_step WHERE lesson_id = %s AND NOT retired ORDER BY "order"', [lesson.pk]))
    for step in lesson.live_step_list:
        step.lesson = lesson
    return lesson


def progress_in(learner_id: int, lesson_id: int) -> Progress | None:
    """The learner's progress through the lesson, or None before their first visit."""
    return next(iter(Progress.objects.raw(
        "SELECT * FROM lessons_progress WHERE learner_id = %s AND lesson_id = %s", [learner_id, lesson_id])), None)


def guesses_on(learner_id: int, step_id: int) -> list[Guess]:
    """The learner's guesses on a step, first attempt first."""
    return list(Guess.objects.raw(
        "SELECT * FROM lessons_guess WHERE learner_id = %s AND step_id = %s ORDER BY attempt", [learner_id, step_id]))


def has_revealed(learner_id: int, step_id: int) -> bool:
    return bool(list(Reveal.objects.raw(
        "SELECT id FROM lessons_reveal WHERE learner_id = %s AND step_id = %s", [learner_id, step_id])))
