"""Validated, bounded parameters for each experiment: a run must never be able to take a node down."""

from django import forms

from tpworkers.catalog.gpus import parse_gpu_list
from tpworkers.catalog.links import LINKS
from tpworkers.catalog import costmodel
from tpworkers.catalog.modelshapes import ModelShape, get_model, list_models
from tpworkers.catalog.sizes import parse_size
from tpworkers.clusters import visible_clusters
from tpworkers.measure.configs import KINDS, SweepConfig
from tpworkers.models import Cluster, Node
from tpworkers.rank_sharing import ranks_share

MAX_RANKS = 8


class SizeField(forms.CharField):
    def to_python(self, value):
        value = super().to_python(value)
        if value in self.empty_values:
            return None
        try:
            return parse_size(value)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None


class GpuListField(forms.CharField):
    """'0,1' -> [0, 1]; empty means 'let the node choose'."""

    def to_python(self, value):
        value = super().to_python(value)
        if value in self.empty_values:
            return []
        try:
            return list(parse_gpu_list(value))
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None


def runnable_nodes(user=None):
    """Nodes a run may go to: those with a worker (one has sent a heartbeat; a node only pasted
    from nvidia-smi has none) in a cluster this user may see (shared clusters without a user)."""
    clusters = visible_clusters(user) if user is not None else Cluster.objects.filter(ownership__isnull=True)
    return Node.objects.filter(cluster__in=clusters, last_heartbeat_at__isnull=False).order_by("hostname")


class RunForm(forms.Form):
    """Where a run goes: which node, which GPUs, and whether NCCL may use P2P/NVLink."""

    experiment = None  # set by each subclass
    node = forms.ModelChoiceField(queryset=Node.objects.none(), required=False, empty_label="this lab's node",
                                  help_text="the node whose worker runs it")
    gpus = GpuListField(required=False, label="GPUs", help_text="e.g. 0,1 or 2,3; empty: the node chooses")
    p2p = forms.BooleanField(required=False, initial=True, label="NCCL may use P2P/NVLink",
                             help_text="off: NCCL_P2P_DISABLE=1, the slower wire")
    # An unticked checkbox sends nothing; this marks a form that showed the box, so a missing
    # p2p means "off" there and "default (on)" for a preset button that never showed it.
    p2p_shown = forms.BooleanField(required=False, initial=True, widget=forms.HiddenInput)

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["node"].queryset = runnable_nodes(user)

    @classmethod
    def defaults(cls) -> dict:
        return {name: field.initial for name, field in cls.base_fields.items() if field.initial is not None}

    @classmethod
    def defaults_for(cls, node: Node | None) -> dict:
        """The defaults, trimmed to what ``node`` runs with a device per rank (see LayerForm)."""
        return cls.defaults()

    def ranks(self) -> int:
        raise NotImplementedError

    def clean(self):
        data = super().clean()
        gpus = data.get("gpus")
        if gpus and not self.errors and len(gpus) != self.ranks():
            self.add_error("gpus", f"{self.ranks()} ranks need {self.ranks()} GPUs, got {len(gpus)}")
        return data

    def device_params(self) -> dict:
        p2p = self.cleaned_data["p2p"] if self.cleaned_data.get("p2p_shown") else True
        return {"gpus": self.cleaned_data["gpus"], "p2p": p2p}


class SweepForm(RunForm):
    experiment = "collective_sweep"
    op = forms.ChoiceField(
        choices=[("all_reduce", "all-reduce"), ("all_gather", "all-gather"),
                 ("reduce_scatter", "reduce-scatter"), ("broadcast", "broadcast")],
        initial="all_reduce",
    )
    min_size = SizeField(initial="1K", help_text="e.g. 1K, 256K, 1M")
    max_size = SizeField(initial="64M")
    factor = forms.IntegerField(initial=4, min_value=2, max_value=16)
    dtype = forms.ChoiceField(choices=[(d, d) for d in ("float32", "bfloat16", "float16")], initial="float32")
    nproc = forms.IntegerField(initial=2, min_value=2, max_value=MAX_RANKS, label="ranks")
    warmup = forms.IntegerField(initial=2, min_value=0, max_value=20)
    iters = forms.IntegerField(initial=10, min_value=1, max_value=100, label="timed iterations")

    field_order = ["op", "min_size", "max_size", "factor", "dtype", "nproc", "warmup", "iters", "node", "gpus", "p2p"]

    def ranks(self) -> int:
        return self.cleaned_data.get("nproc") or 2

    def clean(self):
        data = super().clean()
        low, high, factor = data.get("min_size"), data.get("max_size"), data.get("factor")
        if low is None or high is None or factor is None or self.errors:
            return data
        if low < 1:
            self.add_error("min_size", "must be at least 1 byte")
        elif high < low:
            self.add_error("max_size", "must be at least the smallest size")
        else:
            for field, message in self.sweep().lab_limit_errors().items():
                self.add_error({"max_bytes": "max_size"}.get(field, field), message)
        return data

    def sweep(self) -> SweepConfig:
        data = self.cleaned_data
        return SweepConfig(op=data["op"], nproc=data["nproc"], min_bytes=data["min_size"], max_bytes=data["max_size"],
                           factor=data["factor"], dtype=data["dtype"], warmup=data["warmup"], iters=data["iters"])

    def button_label(self) -> str:
        """"Run all-reduce on this machine" for the defaults; otherwise it names the op and the
        node that the form (as posted, or as prefilled) would run."""
        values = self.data if self.is_bound else self.initial
        op = dict(self.fields["op"].choices).get(values.get("op"), "all-reduce")
        try:
            node = self.fields["node"].queryset.filter(pk=values.get("node") or None).first()
        except (TypeError, ValueError):  # not a node id: the form says so beside the field
            node = None
        where = "this machine" if node is None or node == Node.default() else node.hostname
        return f"Run {op} on {where}"

    def run_params(self) -> dict:
        """The parameters stored on the run: the sweep's own, and where it runs."""
        return {**self.sweep().to_params(), **self.device_params()}


class LayerForm(RunForm):
    """A sharded layer at several TP sizes, with its compute/communication split."""

    experiment = "tp_layer"
    kinds = forms.MultipleChoiceField(choices=list(KINDS.items()), initial=["mlp"])
    tp_sizes = forms.TypedMultipleChoiceField(choices=[(1, "TP=1"), (2, "TP=2"), (4, "TP=4")], coerce=int,
                                              initial=[1, 2, 4], label="TP sizes")
    hidden = forms.IntegerField(initial=1024, min_value=64, max_value=8192, label="hidden size")
    ffn = forms.IntegerField(initial=4096, min_value=64, max_value=32768, label="FFN size")
    heads = forms.IntegerField(initial=16, min_value=1, max_value=128)
    kv_heads = forms.IntegerField(initial=4, min_value=1, max_value=128, label="KV heads")
    seq = forms.IntegerField(initial=64, min_value=1, max_value=4096, label="tokens per forward")
    dtype = forms.ChoiceField(choices=[(d, d) for d in ("float32", "bfloat16", "float16")], initial="float32")
    warmup = forms.IntegerField(initial=2, min_value=0, max_value=20)
    iters = forms.IntegerField(initial=5, min_value=1, max_value=50, label="timed forwards")

    @classmethod
    def defaults_for(cls, node: Node | None) -> dict:
        """Only the TP sizes the node gives each rank a GPU or a CPU core of its own: 4 gloo ranks
        on 2 cores take turns, and their compute times measure that, not the split."""
        defaults = cls.defaults()
        capacity = node.rank_capacity() if node else 0
        defaults["tp_sizes"] = [tp for tp in defaults["tp_sizes"] if not ranks_share(tp, capacity)] or [1]
        return defaults

    def ranks(self) -> int:
        return max(self.cleaned_data.get("tp_sizes") or [1])

    def clean(self):
        """Every TP size must split this layer by the cost model's rule, the one the calculators,
        findings and the worker's own check (LayerBenchConfig.validate) use."""
        data = super().clean()
        if not self.errors:
            shape = ModelShape(hidden_size=data["hidden"], num_hidden_layers=1, num_attention_heads=data["heads"],
                               num_key_value_heads=data["kv_heads"], intermediate_size=data["ffn"], vocab_size=1,
                               name="layer benchmark")
            for tp in data["tp_sizes"]:
                for error in costmodel.tp_constraint_errors(shape, tp):
                    self.add_error("tp_sizes", error)
        return data

    def run_params(self) -> dict:
        data = self.cleaned_data
        params = {name: data[name] for name in ("kinds", "hidden", "ffn", "heads", "kv_heads", "seq",
                                                "dtype", "warmup", "iters")}
        params["tp_sizes"] = sorted(data["tp_sizes"])
        return {**params, **self.device_params()}


class DecodeForm(RunForm):
    """The communication of one decode step of a real model shape, per generated token."""

    experiment = "decode_comm"
    model = forms.ChoiceField(choices=lambda: [(m, m) for m in list_models()], initial="Llama-3.1-70B")
    tp = forms.IntegerField(initial=2, min_value=2, max_value=MAX_RANKS, label="TP")
    tokens_in_flight = forms.IntegerField(initial=8, min_value=1, max_value=512)
    dtype = forms.ChoiceField(choices=[(d, d) for d in ("float32", "bfloat16", "float16")], initial="float32")
    link = forms.ChoiceField(choices=lambda: [(key, link.name) for key, link in LINKS.items()], initial="nvlink4",
                             help_text="the link the modelled column assumes")
    layers = forms.IntegerField(required=False, min_value=1, max_value=200, help_text="empty: the model's own")
    steps = forms.IntegerField(initial=5, min_value=1, max_value=50)
    warmup = forms.IntegerField(initial=1, min_value=0, max_value=10)

    def ranks(self) -> int:
        return self.cleaned_data.get("tp") or 2

    def clean(self):
        data = super().clean()  # the cost model's TP rule, as in LayerForm.clean
        if data.get("model") and data.get("tp"):
            for error in costmodel.tp_constraint_errors(get_model(data["model"]), data["tp"]):
                self.add_error("tp", error)
        return data

    def run_params(self) -> dict:
        data = self.cleaned_data
        params = {name: data[name] for name in ("model", "tp", "tokens_in_flight", "dtype", "link", "layers",
                                                "steps", "warmup")}
        return {**params, **self.device_params()}


FORMS = {form.experiment: form for form in (SweepForm, LayerForm, DecodeForm)}
