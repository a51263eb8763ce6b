"""The instructor's cohorts: the list, a new cohort, its co-instructors, and the progress
matrix that is each cohort's front page."""
from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from labapp.htmx import render_page
from labapp.roles import is_instructor
from lessons.classroom import progress
from lessons.classroom.cohort_data import live_steps
from lessons.classroom.models import Cohort
from lessons.classroom.views.access import get_cohort_for_user, require_instructor

PROGRESS_PAGE = "classroom/progress.html"


class CohortForm(forms.ModelForm):
    class Meta:
        model = Cohort
        fields = ["name", "starts_on", "ends_on"]
        widgets = {"starts_on": forms.DateInput(attrs={"type": "date"}),
                   "ends_on": forms.DateInput(attrs={"type": "date"})}
        labels = {"starts_on": "Starts on (optional)", "ends_on": "Ends on (optional)"}

    def clean(self):
        data = super().clean()
        starts, ends = data.get("starts_on"), data.get("ends_on")
        if starts and ends and ends < starts:
            self.add_error("ends_on", f"The cohort would end ({ends:%Y-%m-%d}) before it starts ({starts:%Y-%m-%d}).")
        return data


@login_required
def teach_home(request):
    """The cohorts this instructor teaches, and the form for a new one."""
    require_instructor(request.user)
    form = CohortForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        cohort = Cohort.create_for(request.user, **form.cleaned_data)
        messages.success(request, f"Cohort {cohort.name} created: learners join with the code {cohort.code}.")
        return redirect("teach_cohort", cohort_id=cohort.pk)
    cohorts = Cohort.objects.taught_by(request.user).annotate(learner_count=Count("memberships"))
    return render(request, "classroom/teach_home.html", {"cohorts": cohorts, "form": form},
                  status=400 if form.errors else 200)


def _stuck_days(value: str | None) -> int:
    """Days without activity that count as stuck: ?stuck=N, 1 to 365, else the default."""
    return int(value) if value and value.isdigit() and 1 <= int(value) <= 365 else progress.STUCK_AFTER_DAYS


@login_required
def cohort_progress(request, cohort_id: int):
    cohort = get_cohort_for_user(request.user, cohort_id)
    sort = request.GET.get("sort") if request.GET.get("sort") in progress.SORTS else "name"
    stuck_days = _stuck_days(request.GET.get("stuck"))
    lessons, rows = progress.progress_matrix(cohort, live_steps(), sort, stuck_days)
    context = {"cohort": cohort, "tab": "progress", "lessons": lessons, "rows": rows, "sort": sort,
               "sorts": progress.SORTS, "stuck_days": stuck_days, "instructors": list(cohort.instructors.all()),
               "join_url": request.build_absolute_uri(reverse("join_cohort", args=[cohort.code])),
               "stuck_count": sum(1 for row in rows if row.stuck)}
    return render_page(request, PROGRESS_PAGE, context, {"progress": PROGRESS_PAGE + "#matrix"})


@login_required
@require_POST
def add_instructor(request, cohort_id: int):
    """Share the cohort with another instructor, by username."""
    cohort = get_cohort_for_user(request.user, cohort_id)
    username = request.POST.get("username", "").strip()
    other = get_user_model().objects.filter(username=username).first()
    if other is None or not is_instructor(other):
        messages.error(request, f"No instructor is called {username!r}: only staff accounts can share a cohort.")
    else:
        cohort.instructors.add(other)
        messages.success(request, f"{other.username} now teaches {cohort.name} too.")
    return redirect("teach_cohort", cohort_id=cohort.pk)
