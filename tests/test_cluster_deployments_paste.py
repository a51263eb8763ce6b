"""Pasting launch lines or YAML: every deployment saved, or none with the line named."""
import pytest
from django.urls import reverse

from tpworkers.models import NodeDeployment

from tests.test_cluster_support import WORKED, WORKED_LINE, node_from, owned_cluster
from tests.test_cluster_support import fast_password_hashing  # noqa: F401 (autouse)

pytestmark = pytest.mark.django_db


def paste(client, node, text):
    return client.post(reverse("cluster_deployments_paste", args=[node.pk]), {"text": text})


def test_it_saves_each_pasted_launch_line(client, learner):
    node = node_from(owned_cluster(learner), "nvl4", *WORKED)
    client.force_login(learner)
    text = WORKED_LINE + "\npython -m sglang.launch_server --model-path meta-llama/Llama-3.1-8B --tp 2\n"
    assert paste(client, node, text).status_code == 302
    gemma, llama = NodeDeployment.objects.all()
    assert (gemma.model, gemma.gpus, gemma.tp, gemma.dtype) == ("google/gemma-2-27b-it", "0,1", 2, "fp8")
    assert gemma.source == WORKED_LINE and llama.gpus == "" and llama.tp == 2
    assert gemma.to_deployment().shape.name == "Gemma-2-27B"


def test_it_names_the_line_it_could_not_read_and_saves_nothing(client, learner):
    node = node_from(owned_cluster(learner), "nvl4", *WORKED)
    client.force_login(learner)
    text = WORKED_LINE + "\nvllm serve meta-llama/Llama-3.1-8B --tensor-parallel-size two"
    response = paste(client, node, text)
    html = response.content.decode()
    assert response.status_code == 400 and not NodeDeployment.objects.exists()
    assert "--tensor-parallel-size needs a whole number, got &#x27;two&#x27;" in html
    assert "--tensor-parallel-size two</textarea>" in html  # the pasted text stays in the box


def test_it_reads_the_small_yaml_too(client, learner):
    node = node_from(owned_cluster(learner), "nvl4", *WORKED)
    client.force_login(learner)
    assert paste(client, node, "model: Llama-3.1-70B\ngpus: [2, 3]\ntp: 2\ndtype: fp8\n").status_code == 302
    [saved] = NodeDeployment.objects.all()
    assert (saved.model, saved.gpus, saved.tp) == ("Llama-3.1-70B", "2,3", 2)


QWEN_LINE = ("CUDA_VISIBLE_DEVICES=0,1 vllm serve Qwen/Qwen3.5-27B-FP8 --tensor-parallel-size 2 "
             "--served-model-name qwen35-27b")
QWEN_CONFIG = ('{"_name_or_path": "Qwen/Qwen3.5-27B", "hidden_size": 5120, "num_hidden_layers": 64, '
               '"num_attention_heads": 40, "num_key_value_heads": 8, "head_dim": 128, '
               '"intermediate_size": 25600, "vocab_size": 151936}')


def test_it_diagnoses_a_model_outside_the_catalog_from_a_pasted_config_json(client, learner):
    """Issue 11: the seed scenario's own model said "shape unknown, paste its config.json", and no
    form took one."""
    node = node_from(owned_cluster(learner), "nvl4", *WORKED)
    client.force_login(learner)
    page = client.get(reverse("cluster_detail", args=[node.cluster_id])).content.decode()
    assert 'name="config"' in page
    response = client.post(reverse("cluster_deployments_paste", args=[node.pk]),
                           {"text": QWEN_LINE, "config": QWEN_CONFIG})
    assert response.status_code == 302
    deployment = NodeDeployment.objects.get()
    assert deployment.config_json["hidden_size"] == 5120
    dep = deployment.to_deployment()
    assert dep.shape.num_attention_heads == 40 and dep.shape_provenance == "reported"
    page = client.get(reverse("cluster_detail", args=[node.cluster_id])).content.decode()
    assert "shape is unknown" not in page


def test_it_refuses_a_config_json_it_cannot_use_and_saves_nothing(client, learner):
    node = node_from(owned_cluster(learner), "nvl4", *WORKED)
    client.force_login(learner)
    broken = QWEN_CONFIG.replace('"hidden_size": 5120, ', "")
    for config, why in ((broken, "config is missing field &#x27;hidden_size&#x27;"),
                        ("{not json", "not valid JSON"),
                        ('{"a": "' + "x" * 70_000 + '"}', "at most 64,000 characters; this one is 70,009"),
                        (QWEN_CONFIG, "no pasted deployment needs it")):
        text = QWEN_LINE if config != QWEN_CONFIG else WORKED_LINE
        response = client.post(reverse("cluster_deployments_paste", args=[node.pk]), {"text": text, "config": config})
        assert response.status_code == 400 and why in response.content.decode(), why
    assert not NodeDeployment.objects.exists()


def test_it_points_a_config_json_pasted_into_the_launch_box_to_its_own_box(client, learner):
    node = node_from(owned_cluster(learner), "nvl4", *WORKED)
    client.force_login(learner)
    response = paste(client, node, QWEN_CONFIG)
    assert response.status_code == 400 and "paste a config.json in the config.json box" in response.content.decode()
