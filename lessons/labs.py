"""A lab step's experiment: the run form its preset fills (the step's ``experiment``, a
collective sweep by default), the one measured number the learner predicts, and the learner's
latest run that measured it.

Each experiment names what is predicted: a sweep, the time of the ``at_size`` message; a
sharded layer, the share of the ``at_tp`` forward spent in communication. The form is the run
form of tpworkers.forms.FORMS, so a preset the lab page would refuse never reaches a learner.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from lessons.figures import format_value
from tpworkers import costmodel
from tpworkers.forms import FORMS
from tpworkers.links import get_link
from tpworkers.models import ExperimentRun
from tpworkers.sizes import parse_size
from tpworkers.tp_layers import KINDS

DEFAULT_EXPERIMENT = "collective_sweep"
COMPARED_LINKS = ("nvlink4", "pcie4")


@dataclass
class LabResult:
    run: ExperimentRun
    value: float | None  # the predicted quantity as measured; None while the run is active
    rows: list[dict] = field(default_factory=list)  # the measured rows a step sets beside it


class Lab:
    """What every experiment's lab step shares; subclasses say what is predicted."""

    experiment = ""
    unit = ""  # lessons.figures UNITS key of the predicted number
    target_field = ""  # the step field naming the row that is predicted
    matched: tuple[str, ...] = ()  # run parameters that must equal the preset's

    def __init__(self, config: dict):
        self.config = config

    @property
    def fields(self) -> dict:
        """The run form's fields, exactly as run_create reads them."""
        return {**FORMS[self.experiment].defaults(), **self.config["preset"]}

    def params(self) -> dict:
        form = FORMS[self.experiment](self.fields)
        form.is_valid()  # the validator already refused a preset that is not
        return form.run_params()

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

    def latest_result(self, learner) -> LabResult | None:
        """The learner's newest run of this preset that covers the predicted row."""
        wanted = self.params()
        runs = ExperimentRun.objects.filter(owner=learner, experiment=self.experiment).order_by("-created_at")
        for run in runs[:50]:
            if all(run.params.get(k) == wanted[k] for k in self.matched) and self.covers(run.params):
                rows = [m.data for m in run.measurements.all()]
                value = self.measured(rows) if run.status == ExperimentRun.Status.DONE else None
                return LabResult(run, value, self.shown_rows(rows))
        return None

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

    def message(self) -> tuple[float, int]:
        """(bytes, ranks) of the all-reduce behind the predicted number."""
        raise NotImplementedError


class SweepLab(Lab):
    """Predict the time of one message size of a collective sweep, in µs."""

    experiment, unit, target_field = "collective_sweep", "us", "at_size"
    matched = ("op", "dtype", "nproc")

    @property
    def target(self) -> int:
        return parse_size(str(self.config["at_size"]))

    def describe(self) -> str:
        f = self.fields
        return (f"{f['op']} on {f['nproc']} ranks, {f['dtype']}, message sizes {f['min_size']} to "
                f"{f['max_size']} (×{f['factor']} a step), {f['warmup']} warm-up and {f['iters']} "
                "timed iterations per size.")

    def target_errors(self, params: dict) -> list[str]:
        try:
            target = self.target
        except ValueError as exc:
            return [f"lab at_size: {exc}"]
        return [] if target in params["sizes"] else [
            f"lab at_size {self.config['at_size']} is not one of the sizes the preset sweeps"]

    def covers(self, params: dict) -> bool:
        return self.target in params.get("sizes", [])

    def measured(self, rows: list[dict]) -> float | None:
        return next((row["time_us"] for row in rows if row.get("size_bytes") == self.target), None)

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
                f"{f['iters']} timed forwards each, split into compute and communication.")

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


def lab_for(config: dict) -> Lab:
    """The lab of a step's config; ValueError for an experiment no lab step can run."""
    experiment = config.get("experiment", DEFAULT_EXPERIMENT)
    if experiment not in LABS:
        raise ValueError(f"unknown lab experiment {experiment!r} (known: {', '.join(LABS)})")
    return LABS[experiment](config)
