"""A lab step's experiment: the preset it runs, and the learner's latest matching result."""
from __future__ import annotations

from dataclasses import dataclass

from lessons.figures import format_value
from lessons.models import Step
from lessons.predictions import lab_target_bytes
from tpworkers import costmodel
from tpworkers.forms import SweepForm
from tpworkers.links import get_link
from tpworkers.models import ExperimentRun

MATCHED_PARAMS = ("op", "dtype", "nproc")
COMPARED_LINKS = ("nvlink4", "pcie4")


@dataclass
class LabResult:
    run: ExperimentRun
    time_us: float | None  # None while the run is active or did not reach the size


def preset_fields(step: Step) -> dict:
    """The run form's fields, exactly as run_create reads them."""
    return {**SweepForm.defaults(), **step.config["preset"]}


def latest_result(learner, step: Step) -> LabResult | None:
    """The learner's newest run of this preset that covers the size the step asks about."""
    form = SweepForm(preset_fields(step))
    form.is_valid()  # the validator already refused a preset that is not
    wanted, target = form.run_params(), lab_target_bytes(step)
    runs = ExperimentRun.objects.filter(owner=learner, experiment=ExperimentRun.Experiment.COLLECTIVE_SWEEP)
    for run in runs.order_by("-created_at")[:50]:
        if all(run.params.get(k) == wanted[k] for k in MATCHED_PARAMS) and target in run.params.get("sizes", []):
            rows = [m.data for m in run.measurements.all() if m.data.get("size_bytes") == target]
            return LabResult(run, rows[0]["time_us"] if rows and run.status == "done" else None)
    return None


def modelled_times(step: Step) -> list[tuple[str, str]]:
    """What the cost model predicts for this all-reduce, per catalog link, to set beside a
    measurement (modelled, with each link's assumed alpha)."""
    target, nproc = lab_target_bytes(step), int(preset_fields(step)["nproc"])
    return [(get_link(k).name, format_value(costmodel.link_allreduce_time_s(target, nproc, get_link(k)), "us"))
            for k in COMPARED_LINKS]
