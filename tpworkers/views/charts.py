"""What the run page's charts draw, comparing like with like.

- This run, first.
- The learner's earlier finished runs of the same collective, dtype and rank count: the newest
  run of each setting (GPU pair, P2P on/off, node), so one glance compares the wires while
  everything else stays equal. Each is labelled by its setting; the node only when the
  series ran on different nodes.
- Reference lines from the cost model's link catalog, labelled modelled: for an all-reduce the
  ring model t = 2(n-1)·α + 2(n-1)/n · S/B and its busbw at every size of the chart (Patarasuk
  & Yuan 2009; nccl-tests doc/PERFORMANCE.md); for other collectives, which the cost model does
  not time, the link's per-direction bandwidth B, the busbw ceiling.
"""

from tpworkers.catalog.costmodel import busbw_Bps, link_allreduce_time_s
from tpworkers.catalog.links import LINKS
from tpworkers.catalog.sizes import binary_size
from tpworkers.measure.configs import SweepConfig
from tpworkers.models import ExperimentRun

REFERENCE_LINKS = ("nvlink4", "pcie5", "pcie4", "ib-ndr")
COMPARE_WITH = 3     # other settings at most: more lines stop being one glance
CANDIDATES = 50      # earlier runs looked through for those settings


def _label(run: ExperimentRun, where: dict, show_node: bool) -> str:
    parts = [where["devices"], where["wire"], f"on {where['node']}" if show_node and where["node"] else ""]
    return f"#{run.pk} " + ", ".join(part for part in parts if part)


def _points(run: ExperimentRun) -> list[list[float]]:
    return [[m.data["size_bytes"], m.data["busbw_GBps"], m.data["time_us"]] for m in run.measurements.all()]


def like_runs(run: ExperimentRun) -> list[ExperimentRun]:
    """The learner's earlier finished runs of the same op, dtype and rank count: the newest one
    of each setting (this run's own included: is it repeatable?), newest first, at most
    COMPARE_WITH."""
    params = run.params
    earlier = (ExperimentRun.objects.filter(
        owner=run.owner_id, experiment=run.experiment, status=ExperimentRun.Status.DONE,
        params__op=params.get("op"), params__dtype=params.get("dtype"), params__nproc=params.get("nproc"),
        created_at__lt=run.created_at,
    ).select_related("node").order_by("-created_at")[:CANDIDATES])
    seen, chosen = [], []
    for other in earlier:
        where = other.setting()
        if where not in seen:
            seen.append(where)
            chosen.append(other)
        if len(chosen) == COMPARE_WITH:
            break
    return chosen


def _references(op: str, nproc: int, sizes: list[int]) -> list[dict]:
    """[{label, points: [[size, busbw GB/s, time µs or None]]}] per catalog link, modelled."""
    references = []
    for key in REFERENCE_LINKS:
        link = LINKS[key]
        name = link.name.split(" (")[0]
        peak = link.bandwidth_Bps / 1e9
        if op == "all_reduce" and nproc >= 2:
            points = []
            for size in sizes:
                seconds = link_allreduce_time_s(size, nproc, link)
                points.append([size, busbw_Bps(op, nproc, size, seconds) / 1e9, seconds * 1e6])
            label = f"{name}, ring model, B {peak:.0f} GB/s (modelled)"
        else:
            points = [[size, peak, None] for size in sizes]
            label = f"{name} bandwidth B, {peak:.0f} GB/s (modelled)"
        references.append({"link": key, "label": label, "points": points})
    return references


def chart_payload(run: ExperimentRun, for_class: bool = False) -> dict | None:
    """``for_class``: a live class watching its instructor's run. The chart shows this run and
    the references only (the instructor's earlier runs are not the class's), and draws each
    size's median call, the time the class's guesses are judged on (lessons.labs), where the run
    page draws nccl-tests' mean."""
    if run.experiment != ExperimentRun.Experiment.COLLECTIVE_SWEEP:
        return None
    params = run.params
    compare = [] if for_class else like_runs(run)
    wheres = [run.setting()] + [other.setting() for other in compare]
    show_node = len({where["node"] for where in wheres}) > 1
    series = [{"run": other.pk, "label": _label(other, where, show_node) + " (measured)", "points": _points(other)}
              for other, where in zip(compare, wheres[1:])]
    sizes = sorted(set(SweepConfig.from_params(params).sizes())
                   | {int(point[0]) for s in series for point in s["points"]})
    return {
        "op": params.get("op"),
        "like": f"{params.get('op', '').replace('_', '-')}, {params.get('dtype')}, {params.get('nproc')} ranks",
        "current": {"run": run.pk, "setting": run.setting_text(), "time": "median" if for_class else "mean",
                    "label": _label(run, wheres[0], show_node)
                    + (" (this run, measured: median call)" if for_class else " (this run, measured)")},
        "compare": series,
        "references": _references(params.get("op", ""), int(params.get("nproc") or 0), sizes),
        # The one size formatter (catalog.sizes.binary_size) labels the chart's axis too.
        "size_labels": {str(size): binary_size(size) for size in sizes},
    }
