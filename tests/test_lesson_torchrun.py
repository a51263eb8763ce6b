"""The torchrun step (lesson 7): a command the learner copies, rewritten for their node by a
GET form (htmx fragment or whole page), beside the plan transformers declares — and, without
transformers, the same command and a sentence naming what is missing."""

import pytest

from lessons.models import Progress
from tpworkers.measure import hf_tp_config

URL = "/lessons/hf-tp-plan/run-check/"


@pytest.mark.hf
def test_it_shows_the_command_and_the_plan_transformers_declares(logged_in, learner):
    page = logged_in.get(URL).content.decode()
    assert "<code id=\"torchrun-command\">torchrun --nproc-per-node 2 -m tpworkers.measure.hf_tp_plan</code>" in page
    assert "<td><code>model.layers.*.mlp.down_proj</code></td><td><code>rowwise</code></td><td>RowParallelLinear</td>" \
           "<td>all-reduce</td><td>256 × 256</td>" in page
    assert "<td><code>lm_head</code></td><td><code>colwise_gather_output</code></td><td>ColumnParallelLinear</td>" \
           "<td>all-gather</td><td>256 × 256</td>" in page
    assert "runs <strong>4 all-reduces and 1 all-gather</strong>" in page
    assert "the cost model counts 4 all-reduces in its decoder layers" in page
    assert "run-check" in Progress.objects.get(learner=learner).visited  # opened: done


@pytest.mark.hf
def test_it_rewrites_the_command_for_the_learners_node_as_a_fragment(logged_in):
    fragment = logged_in.get(URL, {"nproc": "4", "layers": "3"}, HTTP_HX_REQUEST="true",
                             HTTP_HX_TARGET="torchrun-result").content.decode()
    assert fragment.lstrip().startswith('<div id="torchrun-result"') and "<html" not in fragment
    assert "torchrun --nproc-per-node 4 -m tpworkers.measure.hf_tp_plan --layers 3</code>" in fragment
    assert "<td>256 × 128</td>" in fragment  # down_proj at TP=4: hidden × FFN/4
    assert "runs <strong>6 all-reduces and 1 all-gather</strong>" in fragment


def test_it_names_a_tp_size_the_model_cannot_split(logged_in):
    page = logged_in.get(URL, {"nproc": "3", "layers": "2"}).content.decode()
    assert "16 heads are not divisible by TP=3" in page and "torchrun-command" not in page


def test_it_renders_without_transformers_and_says_what_is_missing(logged_in, monkeypatch):
    def not_installed(package):
        raise hf_tp_config.metadata.PackageNotFoundError(package)

    monkeypatch.setattr(hf_tp_config.metadata, "version", not_installed)
    hf_tp_config.missing.cache_clear()
    try:
        page = logged_in.get(URL).content.decode()
    finally:
        hf_tp_config.missing.cache_clear()
    assert "torchrun --nproc-per-node 2 -m tpworkers.measure.hf_tp_plan" in page
    assert "Not installed here:" in page and "transformers is not installed in this Python" in page
    assert "pip install -e &#x27;.[hf]&#x27;" in page and "<table class=\"plan\">" not in page
