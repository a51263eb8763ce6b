"""Downloads: each dashboard table as CSV, and the cohort as JSON for research."""
import csv

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.text import slugify

from lessons.classroom import cohort_data, exports
from lessons.classroom.views.access import get_cohort_for_user


def _filename(cohort, what: str) -> str:
    return f"{slugify(cohort.name) or 'cohort'}-{what}-{timezone.now():%Y%m%d}"


@login_required
def export_page(request, cohort_id: int):
    cohort = get_cohort_for_user(request.user, cohort_id)
    return render(request, "classroom/export.html", {"cohort": cohort, "tab": "export"})


@login_required
def export_csv(request, cohort_id: int, table: str):
    cohort = get_cohort_for_user(request.user, cohort_id)
    if table not in exports.TABLES:
        raise Http404(f"No table called {table!r}")
    rows = exports.TABLES[table](cohort, request.user)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{_filename(cohort, table)}.csv"'
    csv.writer(response).writerows(rows)
    return response


@login_required
def export_json(request, cohort_id: int):
    cohort = get_cohort_for_user(request.user, cohort_id)
    response = JsonResponse(exports.cohort_json(cohort, cohort_data.live_steps()),
                            json_dumps_params={"ensure_ascii": False})
    response["Content-Disposition"] = f'attachment; filename="{_filename(cohort, "cohort")}.json"'
    return response
