"""A lab step's experiment: the run form its preset fills (the step's ``experiment``, a
collective sweep by default), the one measured number the learner predicts, and the learner's
latest run that measured it.

Each experiment names what is predicted: a sweep, the time of the ``at_size`` message (or,
with ``versus: <another lab step>``, how many times longer it takes than in that step's run,
e.g. the same pair with P2P off against P2P on); a sharded layer, the share of the ``at_tp``
forward spent in communication. The form is the run form of tpworkers.forms.FORMS, so a
preset the lab page would refuse never reaches a learner. A run counts for a step only when
it ran what the prediction is about: the same collective, dtype and ranks, the same GPUs and
P2P setting, and a sweep that includes the predicted size.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from lessons.figures import format_value
from tpworkers.catalog import costmodel
from tpworkers.catalog.links import get_link
from tpworkers.catalog.sizes import parse_size
from tpworkers.forms import FORMS
from tpworkers.measure.configs import KINDS, SweepConfig
from tpworkers.models import ExperimentRun
from tpworkers.rank_sharing import planned_layer_note

DEFAULT_EXPERIMENT = "collective_sweep"
COMPARED_LINKS = ("nvlink4", "nvlink4-bridge", "pcie5", "pcie4")
DEVICE_DEFAULTS = {"gpus": [], "p2p": True}  # what a run stored before it recorded its devices
RECENT_RUNS = 50  # a learner's newest runs of an experiment that a lab step looks through


@dataclass
class LabResult:
    run: ExperimentRun
    value: float | None  # the predicted quantity as measured; None while the run is active
    rows: list[dict] = field(default_factory=list)  # the measured rows a step sets beside it
    baseline: "LabResult | None" = None  # the run a ``versus`` step is compared with
    time_us: float | None = None  # a ``versus`` step's own time at the predicted size

    @property
    def on_cpu(self) -> bool:
        """Ran on CPU ranks (gloo), where NCCL settings such as P2P do not apply."""
        return self.run.gpus_used() == ()


def _typical_us(row: dict) -> float:
    """A size's median time (slowest rank), what a guess is compared with: one stalled iteration
    pulls the mean far up (2,261 µs mean beside a 518 µs median). Rows saved before medians
    were recorded have only the mean."""
    return row.get("median_us", row["time_us"])


class Lab:
    """What every experiment's lab step shares; subclasses say what is predicted."""

    experiment = ""
    unit = ""  # lessons.figures UNITS key of the predicted number
    target_field = ""  # the step field naming the row that is predicted
    matched: tuple[str, ...] = ()  # run parameters that must equal the preset's

    def __init__(self, config: dict, baseline: "Lab | None" = None):
        self.config = config
        self.baseline = baseline
        self._params: dict | None = None

    @property
    def fields(self) -> dict:
        """The run form's fields, exactly as run_create reads them."""
        return {**FORMS[self.experiment].defaults(), **self.config["preset"]}

    def params(self) -> dict:
        # Built once per Lab: a run form is costly, and matches() asks for every run it checks.
        if self._params is None:
            form = FORMS[self.experiment](self.fields)
            form.is_valid()  # the validator already refused a preset that is not
            self._params = form.run_params()
        return self._params

    def post_fields(self) -> list[tuple[str, object]]:
        """(name, value) for each hidden input of the run button; a list gives one per item."""
        pairs = [("experiment", self.experiment)]
        for name, value in self.fields.items():
            pairs += [(name, item) for item in value] if isinstance(value, list) else [(name, value)]
        return pairs

    def errors(self) -> list[str]:
        form = FORMS[self.experiment](self.fields)
        if not form.is_valid():
            return [f"lab preset: {name}: {' '.join(e)}" for name, e in form.errors.items()]
        if self.config.get(self.target_field) in (None, ""):
            return [f"missing {self.target_field!r}"]
        return self.target_errors(form.run_params())

    def matches(self, params: dict) -> bool:
        """Did a run with these parameters measure what this step predicts?"""
        wanted = self.params()
        return all(params.get(k, DEVICE_DEFAULTS.get(k)) == wanted[k] for k in self.matched) and self.covers(params)

    def latest_result(self, learner) -> LabResult | None:
        """The learner's newest run of this preset that covers the predicted row."""
        runs = ExperimentRun.objects.filter(owner=learner, experiment=self.experiment).order_by("-created_at")
        return self.result_in(runs[:RECENT_RUNS])

    def result_in(self, runs) -> LabResult | None:
        """The newest run of this preset among one learner's ``runs``, newest first (the
        instructor's dashboard passes each learner's share of runs it fetched once for a class)."""
        for run in runs:
            if run.experiment == self.experiment and self.matches(run.params):
                rows = [m.data for m in run.measurements.all()]
                value = self.measured(rows) if run.status == ExperimentRun.Status.DONE else None
                return LabResult(run, value, self.shown_rows(rows))
        return None

    def where(self) -> str:
        """Which devices the run uses, as the run form will send it."""
        params = self.params()
        gpus = (f"on GPUs {', '.join(map(str, params['gpus']))}" if params["gpus"]
                else "on the node's first GPUs, or on CPU with gloo where it has fewer GPUs than ranks")
        return gpus + ("" if params["p2p"] else ", NCCL P2P off (NCCL_P2P_DISABLE=1)")

    def modelled_times(self) -> list[tuple[str, str]]:
        """What the cost model predicts for the predicted row's all-reduce, per catalog link
        (modelled, with each link's assumed alpha), to set beside the measurement."""
        size, ranks = self.message()
        return [(get_link(k).name, format_value(costmodel.link_allreduce_time_s(size, ranks, get_link(k)), "us"))
                for k in COMPARED_LINKS]

    def target_errors(self, params: dict) -> list[str]:
        raise NotImplementedError

    def covers(self, params: dict) -> bool:
        raise NotImplementedError

    def measured(self, rows: list[dict]) -> float | None:
        raise NotImplementedError

    def shown_rows(self, rows: list[dict]) -> list[dict]:
        return []

    def sharing_note(self, node) -> str:
        return ""

    def message(self) -> tuple[float, int]:
        """(bytes, ranks) of the all-reduce behind the predicted number."""
        raise NotImplementedError


class SweepLab(Lab):
    """Predict the time of one message size of a collective sweep, in µs; or, with ``versus``,
    how many times longer it takes than in the other step's run (its time ÷ theirs)."""

    experiment, target_field = "collective_sweep", "at_size"
    matched = ("op", "dtype", "nproc", "gpus", "p2p")

    @property
    def unit(self) -> str:
        return "x" if self.config.get("versus") else "us"

    @property
    def target(self) -> int:
        return parse_size(str(self.config["at_size"]))

    def describe(self) -> str:
        f = self.fields
        return (f"{f['op']} on {f['nproc']} ranks, {f['dtype']}, message sizes {f['min_size']} to "
                f"{f['max_size']} (×{f['factor']} a step), {f['warmup']} warm-up and {f['iters']} "
                f"timed iterations per size; {self.where()}.")

    def target_errors(self, params: dict) -> list[str]:
        try:
            target = self.target
        except ValueError as exc:
            return [f"lab at_size: {exc}"]
        return [] if target in SweepConfig.from_params(params).sizes() else [
            f"lab at_size {self.config['at_size']} is not one of the sizes the preset sweeps"]

    def covers(self, params: dict) -> bool:
        return self.target in SweepConfig.from_params(params).sizes()

    def measured(self, rows: list[dict]) -> float | None:
        return next((_typical_us(row) for row in rows if row.get("size_bytes") == self.target), None)

    def result_in(self, runs) -> LabResult | None:
        result = super().result_in(runs)
        if result is None or not self.config.get("versus"):
            return result
        result.value = None  # a ratio to the baseline's run, once both are done
        if self.baseline is None:
            return result
        own_rows = [m.data for m in result.run.measurements.all()]
        base = result.baseline = self.baseline.result_in(runs)
        if base and base.value and result.run.status == ExperimentRun.Status.DONE:
            mine = result.time_us = self.measured(own_rows)
            result.value = mine / base.value if mine is not None else None
            result.rows = self.paired_rows([m.data for m in base.run.measurements.all()], own_rows)
        return result

    @staticmethod
    def paired_rows(baseline_rows: list[dict], rows: list[dict]) -> list[dict]:
        """Each size both runs measured: the baseline's time, this run's, and their ratio."""
        base = {r["size_bytes"]: _typical_us(r) for r in baseline_rows if "size_bytes" in r}
        return [{"size_bytes": r["size_bytes"], "baseline_us": base[r["size_bytes"]], "time_us": _typical_us(r),
                 "ratio": _typical_us(r) / base[r["size_bytes"]] if base[r["size_bytes"]] else None}
                for r in rows if r.get("size_bytes") in base]

    def message(self) -> tuple[float, int]:
        return self.target, int(self.fields["nproc"])


class LayerLab(Lab):
    """Predict how much of a sharded layer's forward at TP=``at_tp`` is communication, in %;
    every TP size's compute/communication split is shown beside it."""

    experiment, unit, target_field = "tp_layer", "%", "at_tp"
    matched = ("hidden", "ffn", "heads", "kv_heads", "seq", "dtype")

    @property
    def kind(self) -> str:
        return self.fields["kinds"][0]

    def describe(self) -> str:
        f = self.fields
        sizes = ", ".join(f"TP={tp}" for tp in f["tp_sizes"])
        return (f"the real sharded {KINDS[self.kind]} (hidden size {f['hidden']}, FFN {f['ffn']}), "
                f"{f['seq']} tokens per forward in {f['dtype']}, at {sizes}: {f['warmup']} warm-up and "
                f"{f['iters']} timed forwards each, split into compute and communication; {self.where()}.")

    def sharing_note(self, node) -> str:
        """Said before the run, about ``node`` (the node the run button goes to)."""
        if not node:
            return ""
        return planned_layer_note(max(self.fields["tp_sizes"]), node.gpu_count, node.cpu_cores)

    def target_errors(self, params: dict) -> list[str]:
        errors = [] if self.config["at_tp"] in params["tp_sizes"] else [
            f"lab at_tp {self.config['at_tp']} is not one of the preset's TP sizes"]
        if len(params["kinds"]) != 1:
            errors.append("a layer lab measures one kind of layer: give kinds a single entry")
        return errors

    def covers(self, params: dict) -> bool:
        return self.config["at_tp"] in params.get("tp_sizes", []) and self.kind in params.get("kinds", [])

    def measured(self, rows: list[dict]) -> float | None:
        row = next((r for r in self.shown_rows(rows) if r["tp"] == self.config["at_tp"]), None)
        return row["comm_share"] if row else None

    def shown_rows(self, rows: list[dict]) -> list[dict]:
        """This kind's rows, in TP order, each with its communication share in %."""
        mine = sorted((r for r in rows if r.get("kind") == self.kind), key=lambda r: r["tp"])
        return [{**r, "comm_share": 100 * r["comm_us"] / r["forward_us"] if r["forward_us"] else 0.0}
                for r in mine]

    def message(self) -> tuple[float, int]:
        f = self.fields
        return costmodel.allreduce_bytes(int(f["hidden"]), int(f["seq"]), f["dtype"]), int(self.config["at_tp"])


LABS = {lab.experiment: lab for lab in (SweepLab, LayerLab)}


def lab_for(config: dict, baseline_config: dict | None = None) -> Lab:
    """The lab of a step's config (and of the step it is compared with, for ``versus``);
    ValueError for an experiment no lab step can run."""
    experiment = config.get("experiment", DEFAULT_EXPERIMENT)
    if experiment not in LABS:
        raise ValueError(f"unknown lab experiment {experiment!r} (known: {', '.join(LABS)})")
    return LABS[experiment](config, lab_for(baseline_config) if baseline_config else None)


def versus_errors(steps: list[dict]) -> list[str]:
    """A ``versus`` must name another sweep lab of the lesson that measures the same size of
    the same collective, and which is not itself compared with a third."""
    labs = {step.get("id"): step for step in steps if step.get("type") == "lab"}
    errors = []
    for key, step in labs.items():
        other_key = step.get("versus")
        if not other_key:
            continue
        other = labs.get(other_key)
        where = f"{key}: versus {other_key!r}"
        if other is None or other_key == key:
            errors.append(f"{where} is not another lab step of this lesson")
        elif {step.get("experiment", DEFAULT_EXPERIMENT), other.get("experiment", DEFAULT_EXPERIMENT)} != {
                "collective_sweep"}:
            errors.append(f"{where}: only collective sweeps can be compared")
        elif other.get("versus"):
            errors.append(f"{where} is itself compared with another step")
        elif not (lab_for(step).errors() or lab_for(other).errors()):
            mine, theirs = lab_for(step), lab_for(other)
            if mine.target not in SweepConfig.from_params(theirs.params()).sizes() or any(
                    mine.params()[k] != theirs.params()[k] for k in ("op", "dtype", "nproc")):
                errors.append(f"{where} does not measure the same collective at the predicted size")
    return errors
