"""Load the lesson files into the database: validate everything first, then write only what
changed. Steps are matched by their id, so learners' records survive edits; a step removed
from its file is retired (hidden) rather than deleted."""
from __future__ import annotations

import hashlib
import json

from django.db import transaction

from lessons.content_format import lesson_files, read_lesson_file
from lessons.models import Lesson, Step
from lessons.validate import validate_course

DEFAULT_TITLES = {"read": "Read", "predict": "Predict", "recall": "Recall", "teachback": "Teach it back",
                  "calculator": "Calculate", "decision": "Decide", "lab": "Measure it",
                  "cluster": "On your cluster", "torchrun": "Run it with torchrun"}


class ContentError(Exception):
    def __init__(self, errors: list[str]):
        super().__init__("\n".join(errors))
        self.errors = errors


def read_course() -> list[dict]:
    try:
        lessons = [read_lesson_file(path) for path in lesson_files()]
    except ValueError as exc:
        raise ContentError([str(exc)]) from None
    errors = validate_course(lessons)
    if errors:
        raise ContentError(errors)
    return lessons


@transaction.atomic
def load_course() -> list[str]:
    """Returns one line per lesson saying what happened to it."""
    report = []
    for data in read_course():
        digest = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
        lesson = Lesson.objects.filter(slug=data["slug"]).first()
        if lesson and lesson.content_hash == digest:
            report.append(f"{data['slug']}: unchanged")
            continue
        lesson, created = Lesson.objects.update_or_create(slug=data["slug"], defaults={
            "order": data["order"], "title": data["title"], "goal": data["goal"],
            "analogy": data["analogy"], "infra_bridge": data["infra_bridge"],
            "sources": data["sources"], "content_hash": digest})
        keys = [save_step(lesson, index, step) for index, step in enumerate(data["steps"])]
        retired = lesson.steps.exclude(key__in=keys).update(retired=True)
        report.append(f"{data['slug']}: {'created' if created else 'updated'}, {len(keys)} steps"
                      + (f", {retired} retired" if retired else ""))
    return report


def save_step(lesson: Lesson, index: int, data: dict) -> str:
    config = {k: v for k, v in data.items() if k not in ("id", "type", "title")}
    Step.objects.update_or_create(lesson=lesson, key=data["id"], defaults={
        "order": index, "kind": data["type"], "title": data.get("title") or DEFAULT_TITLES[data["type"]],
        "config": config, "retired": False})
    return data["id"]
