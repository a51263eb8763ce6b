import pytest
from tests.support_runs import cpu_ranks


@pytest.mark.django_db
def test_it_asks_anonymous_visitors_to_log_in(client):
    response = client.get("/lab/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.django_db
def test_it_shows_the_run_button_and_only_my_runs(client, learner, other_learner, make_run):
    mine = make_run(learner)
    theirs = make_run(other_learner)
    client.force_login(learner)
    page = client.get("/lab/").content.decode()
    assert "Run all-reduce on this machine" in page
    assert f'href="/lab/runs/{mine.pk}/"' in page
    assert f'href="/lab/runs/{theirs.pk}/"' not in page


@pytest.mark.django_db
def test_it_names_the_op_and_node_the_sweep_button_runs(client, learner, lab_node):
    from datetime import timedelta

    from django.utils import timezone

    from tpworkers.models import Node

    other = Node.objects.create(cluster=lab_node.cluster, hostname="gpu-box", queue="node.local.gpu-box",
                                last_heartbeat_at=timezone.now() - timedelta(hours=1))
    client.force_login(learner)
    page = client.get("/lab/?experiment=collective_sweep&op=broadcast").content.decode()
    assert "Run broadcast on this machine" in page and "Run all-reduce on this machine" not in page
    page = client.get(f"/lab/?experiment=collective_sweep&op=all_reduce&node={other.pk}").content.decode()
    assert "Run all-reduce on gpu-box" in page
    page = client.post("/lab/runs/", {"op": "all_gather", "min_size": "lots", "max_size": "1M", "factor": "4",
                                      "dtype": "float32", "nproc": "2", "warmup": "1", "iters": "5"}).content.decode()
    assert "Run all-gather on this machine" in page  # the refused form, re-shown as posted


@pytest.mark.django_db
def test_it_ends_runs_whose_worker_died_while_nobody_watched(client, learner, make_run, settings, memory_layer):
    from datetime import timedelta

    from django.utils import timezone

    settings.RUN_STALL_TIMEOUT_S = 30
    run = make_run(learner)
    run.mark_running(worker="tplab@testnode", devices=cpu_ranks(2))
    type(run).objects.filter(pk=run.pk).update(last_progress_at=timezone.now() - timedelta(seconds=31))
    client.force_login(learner)
    page = client.get("/lab/").content.decode()
    run.refresh_from_db()
    assert run.status == "failed"
    assert '<span class="status failed">failed</span>' in page


@pytest.mark.django_db
def test_it_offers_only_the_rank_counts_the_node_has_cores_for(client, learner, lab_node):
    """Issue 11: the layer form defaulted to TP=4 on a 2-core node, which measures oversubscription."""
    import re

    lab_node.cpu_cores = 2
    lab_node.save()
    client.force_login(learner)
    for url in ("/lab/", "/lab/?experiment=tp_layer&kinds=mlp"):  # the plain form, and one a link prefills
        page = client.get(url).content.decode()
        tp_select = re.search(r'<select name="tp_sizes".*?</select>', page, re.S).group(0)
        assert re.findall(r'<option value="(\d)" selected>', tp_select) == ["1", "2"], url
