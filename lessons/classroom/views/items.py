"""What the class answered: per-step first guesses, the misconception map and item statistics."""
from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from lessons.classroom import cohort_data, stats
from lessons.classroom.views.access import get_cohort_for_user
from lessons.liveclass.summary import in_class
from lessons.models import Step


@login_required
def cohort_answers(request, cohort_id: int):
    cohort = get_cohort_for_user(request.user, cohort_id)
    records = cohort_data.cohort_records(cohort, (Step.Kind.PREDICT,))
    found = cohort_data.all_step_answers(records)
    lessons = list(dict.fromkeys(step_answers.step.lesson for step_answers in found))
    votes = in_class(cohort)
    for step_answers in found:
        step_answers.in_class = votes.get(step_answers.step.id, [])
    return render(request, "classroom/answers.html", {"cohort": cohort, "tab": "answers", "found": found,
                                                      "lessons": lessons, "learner_count": len(records.learners)})


@login_required
def cohort_misconceptions(request, cohort_id: int):
    cohort = get_cohort_for_user(request.user, cohort_id)
    records = cohort_data.cohort_records(cohort, (Step.Kind.PREDICT,))
    held = cohort_data.misconception_map(cohort_data.all_step_answers(records))
    return render(request, "classroom/misconceptions.html", {"cohort": cohort, "tab": "misconceptions",
                                                             "held": held, "learner_count": len(records.learners)})


@login_required
def cohort_items(request, cohort_id: int):
    cohort = get_cohort_for_user(request.user, cohort_id)
    records = cohort_data.cohort_records(cohort, (Step.Kind.PREDICT,), opened=True)
    return render(request, "classroom/items.html", {
        "cohort": cohort, "tab": "items", "rows": cohort_data.item_table(records),
        "recalls": cohort_data.recall_table(records),
        "too_easy": stats.TOO_EASY, "too_hard": stats.TOO_HARD, "learner_count": len(records.learners)})
