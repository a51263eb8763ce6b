"""The lesson validator: run by ``loadlessons`` and by the tests; a lesson with an error never
reaches learners.

It rejects a broken block (unknown type, missing field, an answer that is not among the
choices, a decision tree with a dangling branch, a lab preset its experiment's run form would
refuse or a predicted row it does not measure), a dead link (unknown lesson, internal URL that
does not resolve, outside URL not listed in the lesson's sources), a glossary term without a
definition, a figure expression the cost model cannot evaluate, a ``checks`` claim the cost
model disagrees with, and a hand-typed figure (lessons.handtyped): a number with a unit, a
multiplier, a count the cost model knows, or the same in words, written straight into prose
instead of as ``{{ calc }}``, ``{{ fact }}`` or ``{{ given }}``; and a generated variant
(lessons.variants) that fails for any combination of its inputs. What each step kind must hold
beyond its fields (answers, trees, presets, defaults) is checked in lessons.step_checks.
"""
from __future__ import annotations

import re
from urllib.parse import urlparse

from django.urls import Resolver404, resolve

from lessons.calculators import CALCULATORS
from lessons.content_format import FIGURE_RE, TERM_RE, glossary, split_calc
from lessons.figures import UNITS, FigureError, evaluate, format_value
from lessons.handtyped import CODE_RE, hand_typed_figures
from lessons.labs import versus_errors
from lessons.step_checks import CHECKERS
from lessons.variants import combinations, variant_errors

LINK_RE = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")

COMMON_PROSE = ("title", "body")
PROSE_KEYS = {
    "read": (), "predict": ("prompt", "why"), "recall": ("prompt", "answer"),
    "teachback": ("prompt", "model_answer"), "calculator": ("prompt",), "decision": ("prompt",),
    "lab": ("prompt", "why"), "cluster": ("prompt",), "torchrun": ("prompt",),
}
REQUIRED = {
    "read": ("body",), "predict": ("prompt", "why", "kind", "answer"), "recall": ("prompt", "answer"),
    "teachback": ("prompt", "model_answer", "checklist"), "calculator": ("prompt", "calculator"),
    "decision": ("prompt", "start", "nodes"), "lab": ("prompt", "why", "preset"),
    "cluster": ("prompt",), "torchrun": ("prompt", "script"),
}
LESSON_FIELDS = ("slug", "order", "title", "goal", "analogy", "infra_bridge", "sources")


def check_prose(where: str, text, sources: set[str], known_slugs: set[str],
                names: dict | None = None) -> list[str]:
    """``names``: a variant's inputs, for the figures of a variant's prompt and why."""
    if not isinstance(text, str):
        return [f"{where}: expected text, got {type(text).__name__}"]
    errors = [f"{where}: hand-typed figure {f!r}: write it as {{{{ calc: ... }}}}, "
              f"{{{{ fact: ... | source }}}} or {{{{ given: ... }}}}" for f in hand_typed_figures(text)]
    for match in FIGURE_RE.finditer(text):
        kind, body = match.groups()
        if kind == "calc":
            expression, unit = split_calc(body)
            try:
                format_value(evaluate(expression, names), unit)
            except (FigureError, KeyError) as exc:
                errors.append(f"{where}: {exc}")
        elif kind == "fact" and not body.partition("|")[2].strip():
            errors.append(f"{where}: fact {body!r} has no source after '|'")
    for match in TERM_RE.finditer(text):
        if match.group(1).strip().lower() not in glossary():
            errors.append(f"{where}: glossary has no term {match.group(1)!r}")
    errors += [f"{where}: {e}" for url in LINK_RE.findall(CODE_RE.sub(" ", text))
               if (e := dead_link(url, sources, known_slugs))]
    return errors


def dead_link(url: str, sources: set[str], known_slugs: set[str]) -> str | None:
    if url.startswith("lesson:"):
        return None if url[7:] in known_slugs else f"link to unknown lesson {url!r}"
    if url.startswith("/"):
        try:
            resolve(url.split("#")[0].split("?")[0])
        except Resolver404:
            return f"internal link {url!r} does not resolve"
        return None
    if url in sources:
        return None
    return f"link {url!r} is neither a lesson, a page of this site, nor one of the lesson's sources"


def lesson_sources(data: dict) -> set[str]:
    return {source.get("url") for source in data.get("sources") or [] if isinstance(source, dict)}


def validate_lesson_fields(data: dict, known_slugs: set[str]) -> list[str]:
    """The lesson's own fields — title, goal, analogy, infra bridge, sources — as a lesson file
    and the admin's lesson form both check them."""
    name = data.get("slug", "?")
    errors = [f"{name}: missing {field!r}" for field in LESSON_FIELDS if not data.get(field)]
    if errors:
        return errors
    if not isinstance(data["sources"], list):
        return [f"{name}: sources must be a list of {{title, url}}"]
    for i, source in enumerate(data["sources"]):
        url = urlparse(str(source.get("url", ""))) if isinstance(source, dict) else None
        if not url or not source.get("title") or url.scheme != "https" or not url.netloc:
            errors.append(f"{name}: source {i + 1} needs a title and an https url")
    for field in ("title", "goal", "analogy", "infra_bridge"):
        errors += check_prose(f"{name}.{field}", data[field], lesson_sources(data), known_slugs)
    return errors


def validate_lesson(data: dict, known_slugs: set[str]) -> list[str]:
    name = data.get("slug", "?")
    errors = validate_lesson_fields(data, known_slugs)
    if not data.get("steps"):
        return errors + [f"{name}: missing 'steps'"]
    sources = lesson_sources(data)
    keys = [step.get("id") for step in data["steps"]]
    errors += [f"{name}: step id {k!r} is used twice" for k in set(keys) if keys.count(k) > 1]
    for step in data["steps"]:
        errors += validate_step(f"{name}/{step.get('id', '?')}", step, sources, known_slugs)
    errors += [f"{name}/{e}" for e in versus_errors(data["steps"])]
    return errors


def validate_step(where: str, step: dict, sources: set[str], known_slugs: set[str]) -> list[str]:
    kind = step.get("type")
    if kind not in REQUIRED:
        return [f"{where}: unknown step type {kind!r} (known: {', '.join(REQUIRED)})"]
    if not re.fullmatch(r"[a-z0-9-]+", str(step.get("id", ""))):
        return [f"{where}: step id must be lowercase letters, digits and dashes"]
    errors = [f"{where}: missing {f!r}" for f in REQUIRED[kind] if step.get(f) in (None, "", [], {})]
    if errors:
        return errors
    for key in COMMON_PROSE + PROSE_KEYS[kind]:
        if key in step:
            errors += check_prose(f"{where}.{key}", step[key], sources, known_slugs)
    for text in _nested_prose(step):
        errors += check_prose(f"{where}", text, sources, known_slugs)
    errors += [f"{where}: {e}" for e in CHECKERS.get(kind, lambda s: [])(step)]
    errors += _variant_errors(where, step, sources, known_slugs)
    for claim in step.get("checks", []):
        try:
            if evaluate(claim) is not True:
                errors.append(f"{where}: the cost model disagrees with the claim {claim!r}")
        except FigureError as exc:
            errors.append(f"{where}: {exc}")
    return errors


def _variant_errors(where: str, step: dict, sources: set[str], known_slugs: set[str]) -> list[str]:
    """Generated variants (lessons.variants): every combination evaluated, then the prompt and
    why templates checked as prose (with the first variant's values for their figures)."""
    errors = [f"{where}: {e}" for e in variant_errors(step)]
    if "variants" not in step or errors:
        return errors
    names = combinations(step["variants"])[0]
    for key in ("prompt", "why"):
        errors += check_prose(f"{where}.variants.{key}", step["variants"][key], sources, known_slugs, names)
    return errors


def _nested_prose(step: dict) -> list[str]:
    texts = [c.get("text", "") for c in step.get("choices", []) + step.get("items", [])]
    texts += list(step.get("checklist", []))
    for node in (step.get("nodes") or {}).values():
        texts += [node.get(k, "") for k in ("question", "verdict", "why") if k in node]
        texts += [option.get("label", "") for option in node.get("options", [])]
    return texts


COURSE_MINIMUMS = {"predictions": 3, "recalls": 2, "teachbacks": 1, "calculators or labs": 1}


def step_counts(data: dict) -> dict[str, int]:
    kinds = [step.get("type") for step in data.get("steps", [])]
    return {"predictions": kinds.count("predict") + kinds.count("lab"), "recalls": kinds.count("recall"),
            "teachbacks": kinds.count("teachback"),
            "calculators or labs": kinds.count("calculator") + kinds.count("lab") + kinds.count("torchrun")}


def _figures_in(value):
    """Every computed figure in a step's text, as the page prints it ("48.6 GB")."""
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        for item in value:
            yield from _figures_in(item)
    elif isinstance(value, str):
        for match in FIGURE_RE.finditer(value):
            if match.group(1) == "calc":
                expression, unit = split_calc(match.group(2))
                try:
                    yield format_value(evaluate(expression), unit)
                except (FigureError, KeyError):
                    continue  # reported by check_prose


def _calculator_defaults_shown(step: dict) -> list[str]:
    from lessons.calculators import bound_form

    form = bound_form(step["calculator"], {}, step.get("defaults"))
    return [row.value for row in form.result(form.cleaned_data)] if form.is_valid() else []


def spoiled_answers(lessons: list[dict]) -> list[str]:
    """A numeric answer (with a unit) that the course prints before the step asks for it: in an
    earlier lesson, an earlier step, the step's own prompt, or as a calculator's default result.
    Only the formatted figure is compared, as a learner would recognise it."""
    shown: dict[str, str] = {}  # figure text -> where a learner first sees it
    errors = []
    for lesson in sorted(lessons, key=lambda item: item.get("order") or 0):
        for step in lesson.get("steps", []):
            where = f"{lesson.get('slug')}: {step.get('id')}"
            if step.get("type") == "predict" and step.get("kind") == "numeric" and step.get("unit") in UNITS \
                    and step.get("unit"):
                try:
                    answer = format_value(evaluate(str(step["answer"])), step["unit"])
                except (FigureError, KeyError):
                    answer = None  # reported by lessons.step_checks
                seen = shown.get(answer) or (f"{where} (its own prompt)"
                                             if answer in _figures_in(step.get("prompt")) else None)
                if answer and seen:
                    errors.append(f"{where}: the answer {answer} is already shown in {seen}: the learner "
                                  "sees it before guessing; ask about another case or move the figure after it")
            for figure in _figures_in({k: v for k, v in step.items() if k not in ("answer", "checks")}):
                shown.setdefault(figure, where)
            if step.get("type") == "calculator" and step.get("calculator") in CALCULATORS:
                for figure in _calculator_defaults_shown(step):
                    shown.setdefault(figure, f"{where} (the calculator's default result)")
    return errors


def glossary_errors(terms: dict[str, str]) -> list[str]:
    """Definitions show on hover beside every lesson's prose, as plain text where no figure form
    renders: a figure in one could only be typed by hand."""
    return [f"glossary {term!r}: hand-typed figure {figure!r}: a definition says what a term means; "
            "the figure belongs in a lesson's {{ calc }} or {{ fact }}"
            for term, text in terms.items() for figure in hand_typed_figures(text)]


def validate_course(lessons: list[dict]) -> list[str]:
    slugs = [lesson.get("slug") for lesson in lessons]
    errors = [f"lesson slug {s!r} is used twice" for s in set(slugs) if slugs.count(s) > 1]
    orders = [lesson.get("order") for lesson in lessons]
    errors += [f"lesson order {o!r} is used twice" for o in set(orders) if orders.count(o) > 1]
    for lesson in lessons:
        errors += validate_lesson(lesson, set(slugs))
        for what, count in step_counts(lesson).items():
            if count < COURSE_MINIMUMS[what]:
                errors.append(f"{lesson.get('slug')}: has {count} {what}, needs {COURSE_MINIMUMS[what]}")
    return errors + glossary_errors(glossary()) + spoiled_answers(lessons)
