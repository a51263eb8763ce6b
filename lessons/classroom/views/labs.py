"""The cohort's labs and clusters: runs per lab step, prediction against measurement, findings."""
from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from lessons.classroom import cohort_data, cohort_labs
from lessons.classroom.views.access import get_cohort_for_user
from lessons.models import Step


@login_required
def cohort_labs_page(request, cohort_id: int):
    cohort = get_cohort_for_user(request.user, cohort_id)
    records = cohort_data.cohort_records(cohort, (Step.Kind.LAB,))
    lab_steps, matrix = cohort_labs.lab_matrix(records)
    reports = cohort_labs.cluster_findings(records.learners, request.user)
    return render(request, "classroom/labs.html", {"cohort": cohort, "tab": "labs", "lab_steps": lab_steps,
                                                   "matrix": matrix, "reports": reports,
                                                   "totals": cohort_labs.severity_totals(reports)})
