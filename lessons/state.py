"""Everything a step page shows for one learner, gathered in one place for the views."""
from __future__ import annotations

from lessons import predictions
from lessons.calculators import bound_form
from lessons.cluster import cluster_report
from lessons.content_format import TERM_RE, glossary
from lessons.labs import lab_for
from lessons.models import Guess, Lesson, Progress, RecallRating, Reveal, Step, TeachBack


def done_keys(learner, lesson: Lesson) -> set[str]:
    steps = lesson.live_steps()
    done = set()
    for model in (Reveal, RecallRating, TeachBack):
        done |= set(model.objects.filter(learner=learner, step__in=steps).values_list("step__key", flat=True))
    done |= set(Guess.objects.filter(learner=learner, step__in=steps, step__kind=Step.Kind.LAB)
                .values_list("step__key", flat=True))
    return done


def lesson_terms(lesson: Lesson, steps: list[Step]) -> list[tuple[str, str]]:
    text = " ".join([lesson.goal, lesson.analogy, lesson.infra_bridge] + [str(s.config) for s in steps])
    terms = sorted({m.group(1).strip().lower() for m in TERM_RE.finditer(text)})
    return [(term, glossary()[term]) for term in terms if term in glossary()]


def remember_position(learner, step: Step) -> None:
    progress, _ = Progress.objects.get_or_create(learner=learner, lesson=step.lesson)
    progress.current_step = step
    if step == step.lesson.live_steps().last() and progress.finished_at is None:
        from django.utils import timezone

        progress.finished_at = timezone.now()
    progress.save()


def step_context(learner, step: Step, query) -> dict:
    lesson = step.lesson
    steps = list(lesson.live_steps())
    index = steps.index(step)
    previous_lesson, next_lesson = lesson.neighbours()
    context = {
        "lesson": lesson, "step": step, "config": step.config, "steps": steps, "position": index + 1,
        "previous_step": steps[index - 1] if index else None,
        "next_step": steps[index + 1] if index + 1 < len(steps) else None,
        "previous_lesson": previous_lesson, "next_lesson": next_lesson,
        "done": done_keys(learner, lesson), "terms": lesson_terms(lesson, steps),
    }
    add = _KIND_CONTEXT.get(step.kind)
    if add:
        context.update(add(learner, step, query))
    return context


def _predict(learner, step, query) -> dict:
    guesses = list(Guess.objects.filter(learner=learner, step=step).order_by("attempt"))
    revealed = Reveal.objects.filter(learner=learner, step=step).exists()
    context = {"guesses": guesses, "first_guess": guesses[0] if guesses else None,
               "latest_guess": guesses[-1] if guesses else None, "revealed": revealed,
               "options": predictions.options(step), "unit_label": predictions.unit_label(step)}
    for guess in guesses:
        guess.text = predictions.describe(step, guess.answer)
    if revealed:
        answer = step.config["answer"]
        if step.config["kind"] == "numeric":
            answer = predictions.answer_value(step)
        context["answer_text"] = predictions.describe(step, answer)
        context["class_summary"] = predictions.class_summary(step)
    return context


def _lab(learner, step, query) -> dict:
    lab = lab_for(step.config)
    guesses = list(Guess.objects.filter(learner=learner, step=step).order_by("attempt"))
    for guess in guesses:
        guess.text = predictions.describe(step, guess.answer)
    context = {"guesses": guesses, "first_guess": guesses[0] if guesses else None, "lab": lab,
               "unit_label": predictions.unit_label(step), "result": lab.latest_result(learner)}
    result, latest = context["result"], guesses[-1] if guesses else None
    if result and result.value is not None:
        context["modelled"] = lab.modelled_times()
        if latest and latest.answer:
            context["ratio"] = result.value / latest.answer
    return context


def _recall(learner, step, query) -> dict:
    rating = RecallRating.objects.filter(learner=learner, step=step).last()
    return {"rating": rating, "ratings": RecallRating.Rating.choices}


def _teachback(learner, step, query) -> dict:
    record = TeachBack.objects.filter(learner=learner, step=step).first()
    ticked = set(record.checked) if record else set()
    return {"teachback": record,
            "checklist": [(i, item, i in ticked) for i, item in enumerate(step.config["checklist"])]}


def _calculator(learner, step, query) -> dict:
    form = bound_form(step.config["calculator"], query, step.config.get("defaults"))
    rows = form.result(form.cleaned_data) if form.is_valid() else None
    return {"form": form, "rows": rows}


def _decision(learner, step, query) -> dict:
    nodes, name, trail, path = step.config["nodes"], step.config["start"], [], []
    for part in (query.get("path") or "").split("-"):
        options = nodes[name].get("options", [])
        if not part.isdigit() or int(part) >= len(options):
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


_KIND_CONTEXT = {"predict": _predict, "lab": _lab, "recall": _recall, "teachback": _teachback,
                 "calculator": _calculator, "decision": _decision, "cluster": _cluster}
