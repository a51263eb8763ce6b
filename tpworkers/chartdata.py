"""What the run page's charts draw: this run, the learner's earlier runs of the same collective
for comparison (one series each, e.g. GPU pair or P2P on/off), and reference lines for link
types from the cost model's catalog (labelled modelled)."""

from tpworkers.links import LINKS
from tpworkers.models import ExperimentRun

REFERENCE_LINKS = ("nvlink4", "pcie5", "pcie4", "ib-ndr")
COMPARE_WITH = 4


def _series(run: ExperimentRun, label: str) -> dict:
    points = [[m.data["size_bytes"], m.data["busbw_GBps"], m.data["time_us"]] for m in run.measurements.all()]
    return {"run": run.pk, "label": label, "points": points}


def _label(run: ExperimentRun) -> str:
    return f"#{run.pk} {run.device_group or 'pending'}"


def chart_payload(run: ExperimentRun) -> dict | None:
    if run.experiment != ExperimentRun.Experiment.COLLECTIVE_SWEEP:
        return None
    earlier = (
        ExperimentRun.objects.filter(owner=run.owner_id, experiment=run.experiment, status=ExperimentRun.Status.DONE,
                                     params__op=run.params.get("op"), created_at__lt=run.created_at)
        .order_by("-created_at")[:COMPARE_WITH]
    )
    references = [
        {"label": f"{LINKS[key].name} (modelled)", "busbw_GBps": LINKS[key].bandwidth_Bps / 1e9}
        for key in REFERENCE_LINKS if key in LINKS
    ]
    return {
        "op": run.params.get("op"),
        "current": {"run": run.pk, "label": _label(run) + " (this run)"},
        "compare": [_series(other, _label(other)) for other in earlier],
        "references": references,
    }
