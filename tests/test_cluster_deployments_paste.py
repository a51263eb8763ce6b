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
