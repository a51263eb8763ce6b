from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from labapp.roles import can_see_owned
from tpworkers.forms import SweepForm
from tpworkers.models import ExperimentRun


def _get_run_for_user(user, run_id: int) -> ExperimentRun:
    """The run, if this user may see it (its owner or an instructor); 404 otherwise, so a
    stranger cannot even learn that the run exists."""
    run = ExperimentRun.objects.filter(pk=run_id).first()
    if run is None or not can_see_owned(user, run.owner_id):
        raise Http404("No such run")
    return run


@login_required
def lab(request):
    runs = request.user.runs.all()[:20]
    form = SweepForm(initial=SweepForm.defaults())
    return render(request, "tpworkers/lab.html", {"runs": runs, "form": form})


@login_required
@require_POST
def run_create(request):
    form = SweepForm(request.POST or SweepForm.defaults())
    if not form.is_valid():
        runs = request.user.runs.all()[:20]
        return render(request, "tpworkers/lab.html", {"runs": runs, "form": form}, status=400)
    active = request.user.runs.filter(status__in=ExperimentRun.ACTIVE).count()
    if active >= settings.MAX_ACTIVE_RUNS_PER_LEARNER:
        messages.error(request, f"You already have {active} runs queued or running; "
                                "wait for one to finish or cancel it.")
        return redirect("lab")
    run = ExperimentRun.objects.create(
        owner=request.user, experiment=ExperimentRun.Experiment.COLLECTIVE_SWEEP, params=form.run_params()
    )
    from tpworkers.tasks import run_experiment

    transaction.on_commit(lambda: run_experiment.delay(run.pk))
    return redirect("run_detail", run_id=run.pk)


@login_required
def run_detail(request, run_id: int):
    run = _get_run_for_user(request.user, run_id)
    run.fail_if_stalled()
    return render(request, "tpworkers/run_detail.html", {"run": run, "rows": run_rows(run)})


def run_rows(run: ExperimentRun) -> list[dict]:
    """One row per planned size: measured data where it exists, a pending row otherwise."""
    measured = {m.seq: m.data for m in run.measurements.all()}
    return [{"seq": seq, "size_bytes": size, "data": measured.get(seq)} for seq, size in enumerate(run.planned_sizes())]
