"""Everything a step page shows for one learner, gathered in one place for the views, and
the learner's progress through a lesson.

A step is done when the learner did what it asks: a prediction once its answer is revealed, a
lab once its prediction is committed, a recall once rated, a teach-back once written, and a
step that only shows something (reading, calculator, decision tree, cluster findings, a
torchrun command) once opened. A lesson is finished when every live step is done.
"""
from __future__ import annotations

from collections import defaultdict

from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone

from lessons import predictions
from lessons.calculators import bound_form
from lessons.classroom import teachbacks
from lessons.cluster import cluster_report
from lessons.content_format import TERM_RE, glossary
from lessons.labs import lab_for
from lessons.models import Guess, Lesson, Progress, RecallRating, Reveal, Step, StepOpened, TeachBack
from lessons.pagequeries import guesses_on, has_revealed, progress_in
from lessons.torchrun import torchrun_context
from tpworkers.models import Node


SHOWN_ONLY = (Step.Kind.READ, Step.Kind.CALCULATOR, Step.Kind.DECISION, Step.Kind.CLUSTER, Step.Kind.TORCHRUN)


def done_step_ids(learners, steps: list[Step], opened: dict[tuple[int, int], list[str]] | None = None
                  ) -> dict[int, set[int]]:
    """learner id -> ids of the given steps that learner has done, by the rules above: one query
    for what they did and one for what they opened, for one learner or a whole class
    (``learners``: ids or a queryset of user ids). ``opened``: (learner id, lesson id) -> the
    keys opened, when the caller has read them already (the second query is then skipped)."""
    done = _recorded_step_ids(learners, steps)
    shown = defaultdict(dict)  # lesson id -> key -> id of its steps done once opened
    for step in steps:
        if step.kind in SHOWN_ONLY:
            shown[step.lesson_id][step.key] = step.pk
    if shown:
        if opened is None:
            opened = {(learner_id, lesson_id): visited for learner_id, lesson_id, visited in Progress.objects.filter(
                learner__in=learners, lesson_id__in=list(shown)).values_list("learner_id", "lesson_id", "visited")}
        for (learner_id, lesson_id), visited in opened.items():
            done[learner_id] |= {shown[lesson_id][key] for key in visited if key in shown.get(lesson_id, {})}
    return done


def _recorded_step_ids(learners, steps: list[Step]) -> dict[int, set[int]]:
    """learner id -> ids of the steps done by a record (reveal, rating, teach-back, a lab's
    prediction): the records of every kind in one UNION, written as SQL. Built from four
    querysets, the same UNION took Django 0.6 ms to compile on every lesson page, twenty times
    what the database takes to answer it."""
    if isinstance(learners, QuerySet):  # a class: its ids as a subquery
        who, who_params = learners.query.sql_with_params()
    else:
        who_params = list(learners)
        who = ", ".join(["%s"] * len(who_params))
    every = [step.pk for step in steps]
    labs = [step.pk for step in steps if step.kind == Step.Kind.LAB]
    selects, params = [], []
    for model, step_ids in ((Reveal, every), (RecallRating, every), (TeachBack, every), (Guess, labs)):
        if step_ids and who:
            learner, step = (model._meta.get_field(name).column for name in ("learner", "step"))
            selects.append(f"SELECT {learner}, {step} FROM {model._meta.db_table} "
                           f"WHERE {learner} IN ({who}) AND {step} IN ({', '.join(['%s'] * len(step_ids))})")
            params += [*who_params, *step_ids]
    done: dict[int, set[int]] = defaultdict(set)
    if selects:
        with connection.cursor() as cursor:
            cursor.execute(" UNION ".join(selects), params)
            for learner_id, step_id in cursor.fetchall():
                done[learner_id].add(step_id)
    return done


def done_keys(learner, lesson: Lesson, steps: list[Step] | None = None, opened: list[str] | None = None) -> set[str]:
    """Keys of the live steps this learner has done: done_step_ids for one learner, two queries
    whatever the lesson's length, or one when the caller already holds the keys ``opened``."""
    steps = list(lesson.live_steps()) if steps is None else steps
    known = None if opened is None else {(learner.pk, lesson.pk): opened}
    done = done_step_ids([learner.pk], steps, known).get(learner.pk, set())
    return {step.key for step in steps if step.pk in done}


def course_progress(learner, lessons: list[Lesson]) -> None:
    """For the course page, set on each lesson ``progress`` (None before the first visit),
    ``steps_done`` and ``steps_total``: three queries for the whole course (its live steps, the
    learner's progress, what they did), however many lessons it has."""
    steps = list(Step.objects.filter(lesson__in=lessons, retired=False))
    progress = {p.lesson_id: p for p in Progress.objects.filter(learner=learner, lesson__in=lessons)
                .select_related("current_step")}
    opened = {(learner.pk, lesson_id): p.visited for lesson_id, p in progress.items()}
    done = done_step_ids([learner.pk], steps, opened).get(learner.pk, set())
    for lesson in lessons:
        lesson.progress = progress.get(lesson.pk)
        ids = [step.pk for step in steps if step.lesson_id == lesson.pk]
        lesson.steps_done, lesson.steps_total = len(done.intersection(ids)), len(ids)


def lesson_terms(lesson: Lesson, steps: list[Step]) -> list[tuple[str, str]]:
    text = " ".join([lesson.goal, lesson.analogy, lesson.infra_bridge] + [str(s.config) for s in steps])
    terms = sorted({m.group(1).strip().lower() for m in TERM_RE.finditer(text)})
    return [(term, glossary()[term]) for term in terms if term in glossary()]


def remember_position(learner, step: Step) -> Progress:
    """The learner opened ``step``: resume here next time, and count it as opened. Reopening
    the step they are on writes nothing: a class reloading pages must not queue for SQLite's
    one writer. Returns the learner's progress through the lesson."""
    progress = progress_in(learner.pk, step.lesson_id)
    if progress and progress.current_step_id == step.pk and step.key in progress.visited:
        return progress
    if progress is None:
        progress, _ = Progress.objects.get_or_create(learner=learner, lesson=step.lesson)
    progress.current_step = step
    if step.key not in progress.visited:
        progress.visited = [*progress.visited, step.key]
        StepOpened.objects.get_or_create(learner=learner, step=step)  # the first open only; kept for good
    progress.save(update_fields=["current_step", "visited", "updated_at"])
    note_finished(learner, step.lesson)
    return progress


def note_finished(learner, lesson: Lesson) -> None:
    """Stamp the lesson finished the first time every live step is done."""
    progress = Progress.objects.filter(learner=learner, lesson=lesson, finished_at__isnull=True).first()
    if progress and done_keys(learner, lesson) >= set(lesson.live_steps().values_list("key", flat=True)):
        progress.finished_at = timezone.now()
        progress.save(update_fields=["finished_at", "updated_at"])


def step_context(learner, step: Step, query, opened: list[str] | None = None) -> dict:
    """``step.lesson.live_step_list``: the lesson's live steps, fetched with the step
    (lessons.views._get_step). ``opened``: the keys of the steps the learner opened, when the
    caller has read them."""
    lesson = step.lesson
    steps = lesson.live_step_list
    index = steps.index(step)
    first, last = index == 0, index + 1 == len(steps)
    context = {
        "lesson": lesson, "step": step, "config": step.config, "steps": steps, "position": index + 1,
        "previous_step": None if first else steps[index - 1], "next_step": None if last else steps[index + 1],
        # Only the first and the last step link to another lesson.
        "previous_lesson": lesson.previous() if first else None, "next_lesson": lesson.following() if last else None,
        "done": done_keys(learner, lesson, steps, opened), "terms": lesson_terms(lesson, steps),
    }
    add = _KIND_CONTEXT.get(step.kind)
    if add:
        context.update(add(learner, step, query))
    return context


def _predict(learner, step, query) -> dict:
    guesses = guesses_on(learner.pk, step.pk)
    revealed = has_revealed(learner.pk, step.pk)
    context = {"guesses": guesses, "first_guess": guesses[0] if guesses else None,
               "latest_guess": guesses[-1] if guesses else None, "revealed": revealed,
               "options": predictions.options(step), "unit_label": predictions.unit_label(step)}
    for guess in guesses:
        guess.text = predictions.describe(step, guess.answer)
    if step.config["kind"] == "numeric":
        context["tolerance_text"] = predictions.tolerance_text(step)
    if revealed:
        context["answer_text"] = predictions.answer_text(step)
        context["class_summary"] = predictions.class_summary(step)
    return context


def versus_step(step: Step) -> Step | None:
    """The lab step a ``versus`` lab is compared with (None for a plain lab)."""
    key = step.config.get("versus")
    return step.lesson.live_steps().filter(key=key, kind=Step.Kind.LAB).first() if key else None


def _lab(learner, step, query) -> dict:
    baseline = versus_step(step)
    lab = lab_for(step.config, baseline.config if baseline else None)
    guesses = guesses_on(learner.pk, step.pk)
    for guess in guesses:
        guess.text = predictions.describe(step, guess.answer)
    first = guesses[0] if guesses else None  # the prediction, kept for good: the one compared
    context = {"guesses": guesses, "first_guess": first, "lab": lab, "baseline_step": baseline,
               "unit_label": predictions.unit_label(step), "result": lab.latest_result(learner),
               "sharing_note": lab.sharing_note(Node.default())}
    result = context["result"]
    if result and result.value is not None:
        context["modelled"] = [] if baseline else lab.modelled_times()
        if first and first.answer:
            context["ratio"] = result.value / first.answer
    return context


def _recall(learner, step, query) -> dict:
    rating = RecallRating.objects.filter(learner=learner, step=step).last()
    return {"rating": rating, "ratings": RecallRating.Rating.choices}


def _teachback(learner, step, query) -> dict:
    record = TeachBack.objects.filter(learner=learner, step=step).first()
    ticked = set(record.checked) if record else set()
    return {"teachback": record,
            "checklist": [(i, item, i in ticked) for i, item in enumerate(step.config["checklist"])],
            **teachbacks.learner_extras(learner, step, record)}  # comments, consent, the class's examples


def _calculator(learner, step, query) -> dict:
    form = bound_form(step.config["calculator"], query, step.config.get("defaults"))
    rows = form.result(form.cleaned_data) if form.is_valid() else None
    return {"form": form, "rows": rows}


def _decision(learner, step, query) -> dict:
    nodes, name, trail, path = step.config["nodes"], step.config["start"], [], []
    for part in (query.get("path") or "").split("-"):
        options = nodes[name].get("options", [])
        if not (part.isascii() and part.isdigit() and len(part) <= 3) or int(part) >= len(options):
            break
        trail.append((nodes[name]["question"], options[int(part)]["label"]))
        path.append(part)
        name = options[int(part)]["next"]
    prefix = "-".join(path)
    choices = [(f"{prefix}-{i}" if prefix else str(i), option["label"])
               for i, option in enumerate(nodes[name].get("options", []))]
    return {"trail": trail, "node": nodes[name], "choices": choices}


def _cluster(learner, step, query) -> dict:
    return {"report": cluster_report(learner, example_only=step.config.get("example_only", False))}


def _torchrun(learner, step, query) -> dict:
    return torchrun_context(step.config, query)


_KIND_CONTEXT = {"predict": _predict, "lab": _lab, "recall": _recall, "teachback": _teachback,
                 "calculator": _calculator, "decision": _decision, "cluster": _cluster, "torchrun": _torchrun}
