"""Every dashboard table as CSV rows (a header, then one row per line of the table), and the
cohort as JSON for research: learners under pseudonyms (L001, L002, ... in the order they
joined), no usernames, every record with its time in UTC."""
from __future__ import annotations

import json
from datetime import datetime

from django.utils import timezone

from lessons import predictions
from lessons.classroom import cohort_data, cohort_labs, progress, teachbacks
from lessons.classroom.models import Cohort
from lessons.models import ChecklistTick, Guess, Progress, RecallRating, Reveal, Step, StepOpened, TeachBack
from tpworkers.models import ExperimentRun


def _time(value: datetime | None) -> str:
    """ISO 8601 in UTC: the database hands back aware UTC times (USE_TZ), as is timezone.now()."""
    return value.isoformat() if value else ""


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"


def progress_table(cohort: Cohort, viewer) -> list[list]:
    _, rows = progress.progress_matrix(cohort, cohort_data.live_steps())
    table = [["learner", "lesson", "status", "at_step", "steps_done", "steps_total", "last_activity_utc", "stuck"]]
    for row in rows:
        for cell in row.cells:
            table.append([row.learner.username, cell.lesson.slug, cell.status, cell.position or "", cell.done,
                          cell.total, _time(cell.last_activity), "yes" if row.stuck else "no"])
    return table


def answers_table(cohort: Cohort, viewer) -> list[list]:
    """One row per learner × step that takes a guess (predict and lab), answered or not."""
    records = cohort_data.cohort_records(cohort, (Step.Kind.PREDICT, Step.Kind.LAB), opened=True)
    table = [["learner", "lesson", "step", "kind", "first_guess", "first_guess_raw", "correct", "attempts",
              "opened_at_utc", "first_guess_at_utc", "seconds_to_first_guess"]]
    steps = records.of_kind(Step.Kind.PREDICT, Step.Kind.LAB)
    described = {}  # (step id, raw answer) -> in words: a class gives the same answers again and again
    for learner in records.learners:
        for step in steps:
            first = records.first.get((learner.id, step.id))
            kind = step.config.get("kind", "numeric") if step.kind == Step.Kind.PREDICT else "lab"
            correct = "" if first is None or first.correct is None else ("yes" if first.correct else "no")
            raw = _raw(first.answer) if first else ""
            if first and (step.id, raw) not in described:
                described[step.id, raw] = predictions.describe(step, first.answer)
            table.append([learner.username, step.lesson.slug, step.key, kind, described.get((step.id, raw), ""),
                          raw, correct, first.attempts if first else 0,
                          _time(records.opened.get((learner.id, step.id))), _time(first.at) if first else "",
                          _number(records.seconds_to_first_guess(learner.id, step.id))])
    return table


def _raw(answer) -> str:
    return json.dumps(answer, ensure_ascii=False)


def items_table(cohort: Cohort, viewer) -> list[list]:
    records = cohort_data.cohort_records(cohort, (Step.Kind.PREDICT,), opened=True)
    table = [["lesson", "step", "title", "kind", "learners_answered", "guesses", "facility_index",
              "discrimination_index", "median_seconds_to_first_guess", "queue_reviews", "retention", "flags"]]
    for step, item, guesses in cohort_data.item_table(records):
        table.append([step.lesson.slug, step.key, step.title, step.config["kind"], item.answered, guesses,
                      _number(item.facility), _number(item.discrimination), _number(item.median_seconds),
                      item.reviews, _number(item.retention), "; ".join(item.flags)])
    return table


def misconceptions_table(cohort: Cohort, viewer) -> list[list]:
    records = cohort_data.cohort_records(cohort, (Step.Kind.PREDICT,))
    table = [["lesson", "step", "title", "most_common_wrong_answer", "learners", "answered", "share"]]
    for found in cohort_data.misconception_map(cohort_data.all_step_answers(records)):
        table.append([found.step.lesson.slug, found.step.key, found.step.title, found.wrong_text, found.wrong.count,
                      found.wrong.answered, _number(found.wrong.count / found.wrong.answered)])
    return table


def teachbacks_table(cohort: Cohort, viewer) -> list[list]:
    steps = [step for step in cohort_data.live_steps() if step.kind == Step.Kind.TEACHBACK]
    table = [["learner", "lesson", "step", "text", "ticked", "ticked_count", "checklist_count", "shared",
              "exemplary", "comments"]]
    for card in teachbacks.cards(cohort, steps):
        record = card.record
        table.append([record.learner.username, record.step.lesson.slug, record.step.key, record.text,
                      "; ".join(tick.text for tick in card.ticks if tick.ticked), card.ticked, len(card.ticks),
                      "yes" if card.consent else "no", "yes" if card.exemplary else "no",
                      " | ".join(comment.text for comment in card.comments)])
    return table


def labs_table(cohort: Cohort, viewer) -> list[list]:
    records = cohort_data.cohort_records(cohort, (Step.Kind.LAB,))
    table = [["learner", "lesson", "step", "predicted", "measured", "unit", "measured_over_predicted", "run",
              "run_status", "fitting_runs"]]
    lab_steps, matrix = cohort_labs.lab_matrix(records)
    for learner, cells in matrix:
        for lab_step, cell in zip(lab_steps, cells):
            run = cell.result.run if cell.result else None
            table.append([learner.username, lab_step.step.lesson.slug, lab_step.step.key, _number(cell.guess),
                          _number(cell.result.value if cell.result else None), lab_step.unit, _number(cell.ratio),
                          run.id if run else "", run.status if run else "", cell.runs])
    return table


def findings_table(cohort: Cohort, viewer) -> list[list]:
    table = [["cluster", "node", "learners", "severity", "title", "lesson"]]
    for report in cohort_labs.cluster_findings(list(cohort.learners()), viewer):
        for finding in report.findings:
            table.append([report.node.cluster.name, report.node.hostname, " ".join(report.learners),
                          finding.severity, finding.title, finding.lesson])
    return table


TABLES = {"progress": progress_table, "answers": answers_table, "items": items_table,
          "misconceptions": misconceptions_table, "teachbacks": teachbacks_table, "labs": labs_table,
          "findings": findings_table}


def cohort_json(cohort: Cohort, live_steps: list[Step]) -> dict:
    """The cohort's records for research, learners under pseudonyms."""
    members = list(cohort.memberships.order_by("joined_at", "id"))
    alias = {member.learner_id: f"L{index + 1:03d}" for index, member in enumerate(members)}
    ids = list(alias)
    steps = {step.id: f"{step.lesson.slug}/{step.key}" for step in live_steps}

    def rows(model, *fields: str, **extra) -> list[dict]:
        found = []
        for row in model.objects.filter(learner__in=ids, step__in=list(steps)).order_by("created_at", "id").values(
                "learner_id", "step_id", "created_at", *fields):
            found.append({"learner": alias[row.pop("learner_id")], "step": steps[row.pop("step_id")],
                          "at": _time(row.pop("created_at")), **row})
        return found

    return {
        "cohort": {"name": cohort.name, "starts_on": str(cohort.starts_on or ""), "ends_on": str(cohort.ends_on or ""),
                   "exported_at": _time(timezone.now())},
        "learners": [{"learner": alias[m.learner_id], "joined_at": _time(m.joined_at)} for m in members],
        "steps": [{"step": steps[s.id], "kind": s.kind, "title": s.title,
                   "answer_kind": s.config.get("kind", "numeric") if s.kind == Step.Kind.PREDICT else ""}
                  for s in live_steps],
        "guesses": rows(Guess, "attempt", "answer", "correct"),
        "opened": rows(StepOpened),
        "reveals": rows(Reveal),
        "recall_ratings": rows(RecallRating, "rating"),
        "teachbacks": rows(TeachBack, "text", "checked"),
        "checklist_ticks": rows(ChecklistTick, "checked"),
        "progress": [{"learner": alias[p["learner_id"]], "lesson": p["lesson__slug"],
                      "finished_at": _time(p["finished_at"]), "updated_at": _time(p["updated_at"])}
                     for p in Progress.objects.filter(learner__in=ids).values(
                         "learner_id", "lesson__slug", "finished_at", "updated_at")],
        "runs": [{"learner": alias[r["owner_id"]], "run": r["id"], "experiment": r["experiment"],
                  "status": r["status"], "params": r["params"], "devices": r["devices"],
                  "created_at": _time(r["created_at"]), "finished_at": _time(r["finished_at"])}
                 for r in ExperimentRun.objects.filter(owner__in=ids).order_by("created_at").values(
                     "owner_id", "id", "experiment", "status", "params", "devices", "created_at", "finished_at")],
    }
