from datetime import timedelta

import pytest
from django.utils import timezone


@pytest.mark.django_db
def test_it_shows_measured_rows_and_pending_ones(client, learner, make_run):
    run = make_run(learner)  # sizes 1K, 4K, 16K
    run.record(0, {"size_bytes": 1024, "count": 256, "time_us": 512.25, "algbw_GBps": 0.002, "busbw_GBps": 0.002,
                   "min_us": 400.0, "median_us": 500.0, "p99_us": 700.0, "wrong": 0})
    client.force_login(learner)
    page = client.get(f"/lab/runs/{run.pk}/").content.decode()
    assert f'id="run-{run.pk}-row-0" class="measured"' in page
    assert "512.2" in page
    assert f'id="run-{run.pk}-row-2" class="pending"' in page
    assert f'ws-connect="/ws/runs/{run.pk}/"' in page


@pytest.mark.django_db
def test_it_hides_a_run_from_other_learners(client, learner, other_learner, make_run):
    run = make_run(learner)
    client.force_login(other_learner)
    assert client.get(f"/lab/runs/{run.pk}/").status_code == 404


@pytest.mark.django_db
def test_it_lets_instructors_see_any_run(client, learner, instructor, make_run):
    run = make_run(learner)
    client.force_login(instructor)
    assert client.get(f"/lab/runs/{run.pk}/").status_code == 200


@pytest.mark.django_db
def test_it_ends_a_stalled_run_in_an_explained_failure(client, learner, make_run, settings):
    settings.RUN_STALL_TIMEOUT_S = 30
    run = make_run(learner)
    run.mark_running(worker="tplab@node1", device_group="gloo on CPU, 2 ranks")
    type(run).objects.filter(pk=run.pk).update(last_progress_at=timezone.now() - timedelta(seconds=31))
    client.force_login(learner)
    page = client.get(f"/lab/runs/{run.pk}/").content.decode()
    run.refresh_from_db()
    assert run.status == "failed"
    assert "tplab@node1" in run.error and "stopped reporting" in run.error
    assert run.error in page
    assert "ws-connect" not in page  # nothing left to wait for


@pytest.mark.django_db
def test_it_says_an_online_worker_took_no_queued_run(client, learner, make_run, settings):
    settings.RUN_STALL_TIMEOUT_S = 30
    run = make_run(learner)
    type(run).objects.filter(pk=run.pk).update(created_at=timezone.now() - timedelta(seconds=31))
    client.force_login(learner)
    page = client.get(f"/lab/runs/{run.pk}/").content.decode()
    run.refresh_from_db()
    assert run.status == "failed"
    assert "Node testnode is online, but its worker has taken no run" in run.error
    assert "Restart the lab worker" in page


@pytest.mark.django_db
def test_it_shows_the_queue_position_on_the_node(client, learner, other_learner, make_run):
    ahead = make_run(other_learner)
    mine = make_run(learner)
    client.force_login(learner)
    page = client.get(f"/lab/runs/{mine.pk}/").content.decode()
    assert "1 run ahead of yours on testnode" in page
    ahead.finish("done")
    assert "next on testnode" in client.get(f"/lab/runs/{mine.pk}/").content.decode()


@pytest.mark.django_db
def test_it_fails_a_queued_run_whose_node_went_offline(client, learner, make_run, lab_node, settings):
    settings.NODE_OFFLINE_AFTER_S = 45
    run = make_run(learner)
    type(lab_node).objects.filter(pk=lab_node.pk).update(last_heartbeat_at=timezone.now() - timedelta(seconds=46))
    client.force_login(learner)
    page = client.get(f"/lab/runs/{run.pk}/").content.decode()
    run.refresh_from_db()
    assert run.status == "failed" and "Node testnode is offline" in run.error
    assert "Node testnode is offline" in page


@pytest.mark.django_db
def test_it_embeds_earlier_runs_and_link_references_for_the_chart(client, learner, make_run):
    earlier = make_run(learner)
    earlier.record(0, {"size_bytes": 1024, "count": 256, "time_us": 500.0, "algbw_GBps": 0.002, "busbw_GBps": 0.002,
                       "min_us": 1, "median_us": 1, "p99_us": 1, "wrong": 0})
    earlier.finish("done")
    run = make_run(learner)
    client.force_login(learner)
    chart = client.get(f"/lab/runs/{run.pk}/").context["chart"]
    assert [series["run"] for series in chart["compare"]] == [earlier.pk]
    assert chart["compare"][0]["points"] == [[1024, 0.002, 500.0]]
    assert any("NVLink" in ref["label"] and "(modelled)" in ref["label"] for ref in chart["references"])
