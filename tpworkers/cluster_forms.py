"""The cluster pages' forms: a learner's cluster, the nvidia-smi and deployment paste boxes, a
deployment's fields and its optional config.json."""

import json

from django import forms
from django.core.validators import RegexValidator

from tpworkers.catalog.gpus import parse_gpu_list
from tpworkers.catalog.modelshapes import ModelShape, list_models
from tpworkers.catalog.sizes import binary_size
from tpworkers.diagnose import clusterview, limits
from tpworkers.models import Cluster, ClusterOwnership, Node, NodeDeployment

MAX_CLUSTERS_PER_LEARNER = 10


class ClusterForm(forms.Form):
    """A learner's own cluster, named under their username ("ada/h100-box"): a name in another
    learner's namespace is never "already taken" (which would tell that it exists), and no
    learner can take a name that a shared cluster's workers will use (those have no slash)."""

    name = forms.CharField(max_length=50, validators=[RegexValidator(r"^[\w.-]+$", "letters, digits, . - _ only")],
                           help_text="kept under your username, e.g. h100-box")

    def __init__(self, *args, owner, **kwargs):
        super().__init__(*args, **kwargs)
        self.owner = owner

    def full_name(self) -> str:
        return f"{self.owner.username}/{self.cleaned_data['name']}"

    def clean_name(self):
        name = self.cleaned_data["name"]
        if ClusterOwnership.objects.filter(owner=self.owner).count() >= MAX_CLUSTERS_PER_LEARNER:
            raise forms.ValidationError(f"You have {MAX_CLUSTERS_PER_LEARNER} clusters, the most one learner may "
                                        "add: describe more nodes in one of them.")
        if Cluster.objects.filter(name=f"{self.owner.username}/{name}").exists():
            raise forms.ValidationError(f"You already have a cluster named {name}.")
        return name


class PasteField(forms.CharField):
    """A pasted text, refused before parsing when over limits.MAX_PASTE_CHARS (said on the form)."""

    def __init__(self, *, rows: int, help_text: str, **kwargs):
        attrs = {"rows": rows, "cols": 90, "spellcheck": "false", "maxlength": limits.MAX_PASTE_CHARS}
        super().__init__(widget=forms.Textarea(attrs=attrs), strip=False, help_text=help_text, **kwargs)

    def validate(self, value):
        super().validate(value)
        if why := limits.paste_error(value):
            raise forms.ValidationError(why)


class TopologyPasteForm(forms.Form):
    hostname = forms.CharField(max_length=200, validators=[RegexValidator(r"^[\w.-]+$", "letters, digits, . - _ only")])
    text = PasteField(rows=8, label="nvidia-smi output",
                      help_text=f"at most {binary_size(limits.MAX_PASTE_CHARS)}; {limits.NODE_SIZE_WHY}, with at most "
                                f"{limits.MAX_NVLINKS_PER_GPU} NVLinks each")


class ConfigJsonField(forms.CharField):
    """A pasted HF config.json: valid JSON, at most limits.MAX_CONFIG_CHARS, a shape ModelShape.from_hf_config accepts."""

    def __init__(self, **kwargs):
        super().__init__(required=False, strip=False, widget=forms.Textarea(
            attrs={"rows": 4, "cols": 90, "spellcheck": "false", "placeholder": '{"hidden_size": ...}'}), **kwargs)

    def prepare_value(self, value):
        return json.dumps(value, indent=1) if isinstance(value, dict) else value

    def to_python(self, value):
        text = super().to_python(value)
        if not text or not text.strip():
            return None
        if len(text) > limits.MAX_CONFIG_CHARS:
            raise forms.ValidationError(f"a config.json here is at most {limits.MAX_CONFIG_CHARS:,} characters; "
                                        f"this one is {len(text):,}")
        try:
            config = json.loads(text)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"not valid JSON: {exc}") from None
        try:
            ModelShape.from_hf_config(config)
        except ValueError as exc:
            raise forms.ValidationError(f"not a config.json the cost model can use: {exc}") from None
        return config


class DeploymentForm(forms.ModelForm):
    model = forms.ChoiceField(choices=[])
    config_json = ConfigJsonField(label="config.json", help_text="for a model outside the catalog")

    class Meta:
        model = NodeDeployment
        fields = ["model", "gpus", "tp", "dtype", "config_json"]
        labels = {"gpus": "GPUs"}

    def __init__(self, *args, node: Node, **kwargs):
        super().__init__(*args, **kwargs)
        self.node = node
        models = list_models()
        if self.instance.model and self.instance.model not in models:  # pasted: keep what it serves
            models = [self.instance.model, *models]
        self.fields["model"].choices = [(name, name) for name in models]

    def clean(self):
        data = super().clean()
        gpus, tp = data.get("gpus", ""), data.get("tp")
        try:
            named = parse_gpu_list(gpus)
        except ValueError as exc:
            raise forms.ValidationError({"gpus": str(exc)}) from None
        if named and tp and len(named) != tp:
            self.add_error("gpus", f"TP={tp} needs {tp} GPUs; {len(named)} named")
        known = {g.index for g in clusterview.topology_node(self.node.topology, self.node.hostname).gpus}
        if known and set(named) - known:
            self.add_error("gpus", f"this node has GPUs {', '.join(map(str, sorted(known)))}")
        data["gpus"] = ",".join(map(str, named))
        return data


class DeploymentPasteForm(forms.Form):
    text = PasteField(rows=3, label="launch lines or YAML",
                      help_text=f"at most {binary_size(limits.MAX_PASTE_CHARS)} and {limits.MAX_DEPLOYMENTS_PER_PASTE} deployments; "
                                "no YAML aliases")
    config = ConfigJsonField(label="config.json", help_text="optional: the shape of a model outside the catalog")

    def clean_text(self):
        text = self.cleaned_data["text"]
        if text.lstrip().startswith("{"):
            raise forms.ValidationError("This looks like JSON: paste a config.json in the config.json box, "
                                        "and the launch line that serves it here.")
        return text
