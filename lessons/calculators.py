"""The interactive calculators: a GET form each, computed on the server by the cost model.

Each calculator is a form class plus a ``result(cleaned_data)`` that returns rows of
(label, value text, provenance) for the result fragment; no formula is written here.
"""
from __future__ import annotations

from dataclasses import dataclass

from django import forms

from lessons.figures import format_value
from tpworkers.catalog import costmodel
from tpworkers.catalog.gpus import get_gpu, sized_gpus
from tpworkers.catalog.links import LINKS, get_link
from tpworkers.catalog.modelshapes import catalog_source, get_model, list_models

DTYPES = [("bf16", "bf16"), ("fp16", "fp16"), ("fp8", "fp8"), ("fp32", "fp32")]
MODELS = [(name, name) for name in list_models()]
COMPARED_LINKS = ("nvlink4", "nvlink4-bridge", "nvlink3", "pcie5", "pcie4")


@dataclass
class Row:
    label: str
    value: str
    provenance: str = "modelled"
    bad: bool = False
    source: str = ""  # where a catalog figure comes from


class ShardForm(forms.Form):
    hidden = forms.IntegerField(min_value=1, max_value=1 << 20, initial=16384, label="hidden size")
    tp = forms.IntegerField(min_value=1, max_value=64, initial=4, label="TP size")
    tokens = forms.IntegerField(min_value=1, max_value=65536, initial=8, label="tokens in flight")
    dtype = forms.ChoiceField(choices=DTYPES, initial="fp16", label="activation dtype")

    def clean(self):
        data = super().clean()
        if data.get("hidden") and data.get("tp") and data["hidden"] % data["tp"]:
            self.add_error("tp", f"{data['hidden']} is not divisible by TP={data['tp']}")
        return data

    @staticmethod
    def result(d) -> list[Row]:
        columns, out_bytes = costmodel.column_parallel_shard(d["hidden"], d["tp"], d["tokens"], d["dtype"])
        size = costmodel.allreduce_bytes(d["hidden"], d["tokens"], d["dtype"])
        return [Row("output columns per GPU of a hidden-wide column-parallel layer (such as Q)",
                    format_value(columns, "")),
                Row("that layer's output per GPU", format_value(out_bytes, "KiB")),
                Row("bytes per all-reduce (after the row-parallel layer)", format_value(size, "KiB"))]


class ModelTPForm(forms.Form):
    """A model and a TP size, refused by the cost model's one rule (costmodel.tp_constraint_errors),
    the same one the findings and the lab's layer forms use."""

    def clean(self):
        data = super().clean()
        if data.get("model") and data.get("tp"):
            for error in costmodel.tp_constraint_errors(get_model(data["model"]), data["tp"]):
                self.add_error("tp", error)
        return data


class MemoryFitForm(ModelTPForm):
    model = forms.ChoiceField(choices=MODELS, initial="Llama-3.1-70B")
    dtype = forms.ChoiceField(choices=DTYPES, initial="bf16", label="weight dtype")
    kv_dtype = forms.ChoiceField(choices=[("", "default: bf16 for fp8/int4 weights, else the weight dtype"),
                                          *DTYPES], required=False, initial="", label="KV cache dtype")
    gpu = forms.ChoiceField(choices=[(g.key, g.key) for g in sized_gpus()], initial="H100", label="GPU")
    tp = forms.IntegerField(min_value=1, max_value=64, initial=1, label="TP size")
    context = forms.IntegerField(min_value=1, max_value=1 << 20, initial=8192, label="context tokens")
    batch = forms.IntegerField(min_value=1, max_value=4096, initial=8, label="sequences in flight")

    @staticmethod
    def result(d) -> list[Row]:
        gpu = get_gpu(d["gpu"])
        kv_dtype = d.get("kv_dtype") or costmodel.default_kv_dtype(d["dtype"])
        fit = costmodel.memory_fit(get_model(d["model"]), d["dtype"], gpu.memory_bytes,
                                   d["context"], d["batch"], kv_dtype=kv_dtype, tp=d["tp"])
        overhead = format_value(costmodel.DEFAULT_OVERHEAD_FRACTION, "%")
        kv_words = kv_dtype if d.get("kv_dtype") else f"{kv_dtype}, the default for {d['dtype']} weights"
        return [Row("weights per GPU", format_value(fit.weights, "GB")),
                Row(f"KV cache per GPU (in {kv_words})", format_value(fit.kv, "GB")),
                Row(f"overhead ({overhead} of the GPU's memory)", format_value(fit.overhead, "GB")),
                Row("total per GPU", format_value(fit.total, "GB")),
                Row(f"{d['gpu']} memory", format_value(fit.gpu_mem, "GB"), source=f"GPU catalog: {gpu.source}"),
                Row("fits?", "yes" if fit.fits else f"no — short by {format_value(-fit.headroom, 'GB')}",
                    bad=not fit.fits)]


class ValidTPForm(forms.Form):
    model = forms.ChoiceField(choices=MODELS, initial="Llama-3.1-70B")
    max_tp = forms.IntegerField(min_value=1, max_value=64, initial=8, label="largest TP to try")

    @staticmethod
    def result(d) -> list[Row]:
        shape = get_model(d["model"])
        rows = [Row("heads / KV heads / FFN",
                    f"{shape.num_attention_heads} / {shape.num_key_value_heads} / {shape.intermediate_size:,}",
                    source=f"model catalog, from {catalog_source(d['model'])}")]
        for tp in range(1, d["max_tp"] + 1):
            errors = costmodel.tp_constraint_errors(shape, tp)
            rows.append(Row(f"TP={tp}", "; ".join(errors) if errors else "valid", bad=bool(errors)))
        return rows


class CommPerTokenForm(ModelTPForm):
    model = forms.ChoiceField(choices=MODELS, initial="Llama-3.1-70B")
    tp = forms.IntegerField(min_value=1, max_value=64, initial=4, label="TP size")
    tokens = forms.IntegerField(min_value=1, max_value=65536, initial=8, label="tokens in flight")
    dtype = forms.ChoiceField(choices=DTYPES, initial="bf16", label="activation dtype")

    @staticmethod
    def result(d) -> list[Row]:
        shape = get_model(d["model"])
        size = costmodel.allreduce_bytes(shape.hidden_size, d["tokens"], d["dtype"])
        rows = [Row("all-reduces per generated token", format_value(costmodel.allreduces_per_token(shape), "")),
                Row("bytes per all-reduce", f"{format_value(size, 'KiB')} ({format_value(size, 'kB')})")]
        for key in COMPARED_LINKS:
            estimate = costmodel.decode_comm_per_token(shape, d["tp"], d["tokens"], d["dtype"], get_link(key))
            rows.append(Row(f"communication per token on {LINKS[key].name}",
                            format_value(estimate.seconds_per_token, "ms")))
        return rows


# Nodes one can rent, as the catalog knows them: (what it is, its GPU, the wire a TP group
# inside it uses). "8× H100" names a system, not a figure; the numbers come from the catalogs.
NODES = [
    ("8× H100 SXM (NVLink 4 through NVSwitch)", "H100", "nvlink4"),
    ("8× H200 SXM (NVLink 4 through NVSwitch)", "H200", "nvlink4"),
    ("H100 NVL, GPUs bridged in pairs", "H100-NVL", "nvlink4-bridge"),
    ("8× H100 PCIe without bridges (PCIe Gen5)", "H100-PCIe", "pcie5"),
    ("H100 SXM, the TP group spread over nodes (InfiniBand NDR)", "H100", "ib-ndr"),
]


class NodeChoiceForm(ModelTPForm):
    model = forms.ChoiceField(choices=MODELS, initial="Llama-3.1-70B")
    tp = forms.IntegerField(min_value=2, max_value=64, initial=4, label="TP size")
    tokens = forms.IntegerField(min_value=1, max_value=65536, initial=8, label="tokens in flight")
    dtype = forms.ChoiceField(choices=DTYPES, initial="bf16", label="weight dtype")

    @staticmethod
    def result(d) -> list[Row]:
        shape = get_model(d["model"])
        rows = [Row("all-reduces per generated token", format_value(costmodel.allreduces_per_token(shape), ""))]
        for label, gpu_key, link_key in NODES:
            gpu, link = get_gpu(gpu_key), get_link(link_key)
            if link_key == "nvlink4-bridge" and d["tp"] > 2:
                rows.append(Row(label, f"a bridge joins two GPUs: TP={d['tp']} would cross PCIe", bad=True))
                continue
            step = costmodel.decode_step_floor(shape, d["dtype"], d["tp"], d["tokens"], gpu.hbm_Bps, link)
            fit = costmodel.memory_fit(shape, d["dtype"], gpu.memory_bytes, 0, 1, tp=d["tp"])
            rows.append(Row(label, f"{format_value(step.comm_s, 'ms')} of all-reduces + "
                                   f"{format_value(step.weight_read_s, 'ms')} of weight reads = "
                                   f"{format_value(step.total_s, 'ms')} per token at least; "
                                   f"all-reduces {format_value(step.comm_share, '%')} of it"
                                   + ("" if fit.fits else "; weights and overhead do not fit its GPUs at this TP"),
                            bad=not fit.fits, source=f"{link.name}: {link.model_inputs()}"))
        return rows


CALCULATORS = {"shards": ShardForm, "memory_fit": MemoryFitForm, "valid_tp": ValidTPForm,
               "comm_per_token": CommPerTokenForm, "node_choice": NodeChoiceForm}


def bound_form(name: str, query, defaults: dict | None = None) -> forms.Form:
    """The calculator's form bound to the query string, or to the lesson's defaults."""
    form_class = CALCULATORS[name]
    initial = {field: f.initial for field, f in form_class.base_fields.items()} | (defaults or {})
    submitted = {k: query[k] for k in form_class.base_fields if k in query}
    return form_class({**initial, **submitted})
