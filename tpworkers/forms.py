"""Validated, bounded parameters for a run: a run must never be able to take a node down."""

from django import forms

from tpworkers.sizes import format_size, parse_size, sweep_sizes

MAX_BYTES = 256 << 20  # per-rank buffer; larger sweeps belong to nccl-tests, not a teaching lab
MAX_SIZES = 24


class SizeField(forms.CharField):
    def to_python(self, value):
        value = super().to_python(value)
        if value in self.empty_values:
            return None
        try:
            return parse_size(value)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None


class SweepForm(forms.Form):
    op = forms.ChoiceField(
        choices=[("all_reduce", "all-reduce"), ("all_gather", "all-gather"),
                 ("reduce_scatter", "reduce-scatter"), ("broadcast", "broadcast")],
        initial="all_reduce",
    )
    min_size = SizeField(initial="1K", help_text="e.g. 1K, 256K, 1M")
    max_size = SizeField(initial="64M")
    factor = forms.IntegerField(initial=4, min_value=2, max_value=16)
    dtype = forms.ChoiceField(choices=[(d, d) for d in ("float32", "bfloat16", "float16")], initial="float32")
    nproc = forms.IntegerField(initial=2, min_value=2, max_value=8, label="ranks")
    warmup = forms.IntegerField(initial=2, min_value=0, max_value=20)
    iters = forms.IntegerField(initial=10, min_value=1, max_value=100, label="timed iterations")

    @classmethod
    def defaults(cls) -> dict:
        return {name: field.initial for name, field in cls.base_fields.items()}

    def clean(self):
        data = super().clean()
        low, high, factor = data.get("min_size"), data.get("max_size"), data.get("factor")
        if low is None or high is None or factor is None:
            return data
        if high > MAX_BYTES:
            self.add_error("max_size", f"at most {format_size(MAX_BYTES)} per rank")
        elif high < low:
            self.add_error("max_size", "must be at least the smallest size")
        elif len(sweep_sizes(low, high, factor)) > MAX_SIZES:
            self.add_error("factor", f"this sweep has more than {MAX_SIZES} sizes: raise the factor")
        return data

    def run_params(self) -> dict:
        """The parameters stored on the run (sizes spelt out so the page can show every row)."""
        data = self.cleaned_data
        return {
            "op": data["op"], "dtype": data["dtype"], "nproc": data["nproc"],
            "warmup": data["warmup"], "iters": data["iters"], "factor": data["factor"],
            "min_bytes": data["min_size"], "max_bytes": data["max_size"],
            "sizes": sweep_sizes(data["min_size"], data["max_size"], data["factor"]),
        }
