"""The torchrun step: a command the learner copies to run one of the lab's checks on their own
GPUs, built from a small GET form, beside what the check will look at. Only the Hugging Face
tp_plan check exists (tpworkers.measure.hf_tp_plan); the command and the plan come from its
torch-free half, hf_tp_config, so the page imports no torch.
"""
from __future__ import annotations

from dataclasses import dataclass

from django import forms

from tpworkers.catalog import costmodel
from tpworkers.measure import hf_tp_config
from tpworkers.measure.hf_tp_config import STYLES, HFCheckConfig, expected_collectives, shard_shape, torchrun_command

SCRIPTS = ("hf_tp_plan",)


class TorchrunForm(forms.Form):
    nproc = forms.IntegerField(min_value=2, max_value=8, initial=2, label="GPUs in the TP group (--nproc-per-node)")
    layers = forms.IntegerField(min_value=1, max_value=32, initial=2, label="decoder layers of the check's model")

    def clean(self):
        data = super().clean()
        if data.get("nproc") and data.get("layers"):
            for error in HFCheckConfig(layers=data["layers"]).errors(data["nproc"]):
                self.add_error("nproc", error)
        return data


def bound_form(query, defaults: dict | None = None) -> TorchrunForm:
    initial = {field: f.initial for field, f in TorchrunForm.base_fields.items()} | (defaults or {})
    return TorchrunForm({**initial, **{k: query[k] for k in TorchrunForm.base_fields if k in query}})


@dataclass
class PlanRow:
    pattern: str
    style: str
    lab_layer: str
    collective: str
    shard: str  # this GPU's weight at the chosen TP size, modelled


def torchrun_context(step_config: dict, query) -> dict:
    form = bound_form(query, step_config.get("defaults"))
    if not form.is_valid():
        return {"form": form}
    tp, config = form.cleaned_data["nproc"], HFCheckConfig(layers=form.cleaned_data["layers"])
    context = {"form": form, "command": torchrun_command(tp, config), "config": config, "tp": tp,
               "allreduces_in_layers": costmodel.allreduces_per_token(config.shape()),
               "missing": hf_tp_config.missing()}
    if context["missing"]:
        return context
    context["version"], plan, context["unreadable"] = hf_tp_config.declared_plan()
    if plan is None:
        return context
    context["expected"] = _describe(expected_collectives(plan, config.layers))
    context["plan"] = [_plan_row(pattern, style, config, tp) for pattern, style in plan.items()]
    return context


def _describe(counts: dict[str, int] | None) -> str:
    """{"all_reduce": 5, "all_gather": 1} -> "5 all-reduces and 1 all-gather" ("" for None)."""
    order = [op for _, op in STYLES.values() if op]
    return " and ".join(f"{n} {op.replace('_', '-')}{'s' if n != 1 else ''}"
                        for op, n in sorted((counts or {}).items(), key=lambda item: order.index(item[0])))


def _plan_row(pattern: str, style: str, config: HFCheckConfig, tp: int) -> PlanRow:
    if style not in STYLES:
        return PlanRow(pattern, style, "unknown to the lab", "unknown to the lab", "")
    lab_layer, collective = STYLES[style]
    shape = shard_shape(pattern, config, tp)
    return PlanRow(pattern, style, lab_layer or "none", (collective or "none").replace("_", "-"),
                   " × ".join(f"{n:,}" for n in shape) if shape else "")
