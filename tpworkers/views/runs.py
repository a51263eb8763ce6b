import csv
import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect

from tpworkers.forms import FORMS, SweepForm
from tpworkers.models import ExperimentRun, Node
from tpworkers.runs import (
    RunRefused, cancel, create_run, fail_stalled_runs, rerun, run_for_user, run_rows, run_to_watch,
)
from tpworkers.views.charts import chart_payload


def _get_run_for_user(user, run_id: int) -> ExperimentRun:
    """404 for a run this user may not see, so a stranger cannot even learn that it exists."""
    run = run_for_user(user, run_id)
    if run is None:
        raise Http404("No such run")
    return run


def _refused(request, refused: RunRefused) -> None:
    """The refusal as a message, each run it names linked so the learner can open or cancel it."""
    if not refused.runs:
        messages.error(request, str(refused))
        return
    links = format_html_join(", ", '<a href="{}">#{} ({})</a>',
                             ((reverse("run_detail", args=[run.pk]), run.pk, run.status) for run in refused.runs))
    messages.error(request, format_html(refused.message, runs=links))


def _lab_page(request, forms_by_experiment=None, status=200):
    # A worker killed while nobody watched leaves runs active: end them before they are listed.
    fail_stalled_runs(request.user.runs.filter(status__in=ExperimentRun.ACTIVE))
    node = Node.default()
    forms = {exp: form_class(initial=form_class.defaults_for(node), user=request.user)
             for exp, form_class in FORMS.items()}
    prefill = FORMS.get(request.GET.get("experiment"))
    if prefill:  # /lab/?experiment=…&op=…: the form filled in, its button saying what it runs
        forms[prefill.experiment] = prefill(initial={**prefill.defaults_for(node), **request.GET.dict()}, user=request.user)
    forms.update(forms_by_experiment or {})
    runs = request.user.runs.select_related("node")[:20]
    return render(request, "tpworkers/lab.html", {"runs": runs, "forms": forms}, status=status)


@login_required
def lab(request):
    return _lab_page(request)


@login_required
@require_POST
def run_create(request):
    experiment = request.POST.get("experiment", SweepForm.experiment)
    form_class = FORMS.get(experiment)
    if form_class is None:
        raise Http404("No such experiment")
    # A bare press of the button (no fields) runs the defaults.
    has_fields = set(request.POST) - {"csrfmiddlewaretoken", "experiment", "next"}
    form = form_class(request.POST if has_fields else form_class.defaults(), user=request.user)
    if not form.is_valid():
        return _lab_page(request, {experiment: form}, status=400)
    next_url = request.POST.get("next", "")
    return_to = next_url if url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}) else ""
    try:
        run = create_run(request.user, experiment, form.run_params(), form.cleaned_data.get("node"), return_to)
    except RunRefused as refused:
        _refused(request, refused)
        return redirect(return_to or "lab")  # back to the lesson step that asked, if one did
    return redirect("run_detail", run_id=run.pk)


@login_required
def run_detail(request, run_id: int):
    run, may_act = run_to_watch(request.user, run_id)  # a live class may watch
    if run is None:
        raise Http404("No such run")
    fail_stalled_runs(ExperimentRun.objects.filter(pk=run.pk))
    run.refresh_from_db()
    context = {"run": run, "rows": run_rows(run), "chart": chart_payload(run),
               "watching": not may_act}  # no buttons for the class
    return render(request, "tpworkers/run_detail.html", context)


def _go_to_run(request, run_id: int):
    """A run page: htmx (the status block's buttons) is told to navigate there, a plain form
    follows a redirect."""
    url = reverse("run_detail", args=[run_id])
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


@login_required
@require_POST
def run_cancel(request, run_id: int):
    run = _get_run_for_user(request.user, run_id)
    if run.is_active:
        cancel(run)
    return _go_to_run(request, run.pk)


@login_required
@require_POST
def run_rerun(request, run_id: int):
    run = _get_run_for_user(request.user, run_id)
    try:
        again = rerun(run, request.user)
    except RunRefused as refused:
        _refused(request, refused)
        return _go_to_run(request, run.pk)
    return _go_to_run(request, again.pk)


@login_required
def run_download(request, run_id: int, fmt: str):
    run = _get_run_for_user(request.user, run_id)
    rows = [m.data for m in run.measurements.all()]
    filename = f"tplab-run-{run.pk}-{run.experiment}"
    if fmt == "json":
        body = {"run": run.pk, "experiment": run.experiment, "status": run.status, "error": run.error,
                "device_group": run.device_group, "devices": run.devices, "transport": run.transport, "params": run.params,
                "source": "measured", "measurements": rows}
        response = JsonResponse(body, json_dumps_params={"indent": 2})
    else:
        response = HttpResponse(content_type="text/csv")
        columns = list(dict.fromkeys(key for row in rows for key in row))
        writer = csv.DictWriter(response, fieldnames=columns)
        writer.writeheader()
        writer.writerows({k: json.dumps(v) if isinstance(v, (list, dict)) else v for k, v in row.items()} for row in rows)
    response["Content-Disposition"] = f'attachment; filename="{filename}.{fmt}"'
    return response

