from datetime import timedelta

import pytest
from django.utils import timezone
from django.utils.html import escape
from tests.support_runs import cpu_ranks, nccl_gpus


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
    run.mark_running(worker="tplab@node1", devices=cpu_ranks(2))
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
    assert "Restart the lab (python3 lab.py run)" in page and "python3 lab.py worker --cluster NAME" in page


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


def sweep_row(size_bytes, busbw_GBps, time_us):
    return {"size_bytes": size_bytes, "count": size_bytes // 4, "time_us": time_us, "algbw_GBps": busbw_GBps,
            "busbw_GBps": busbw_GBps, "min_us": time_us, "median_us": time_us, "p99_us": time_us, "wrong": 0}


def finished(run, devices, *rows):
    run.mark_running(worker="tplab@testnode", devices=devices)
    for seq, row in enumerate(rows):
        run.record(seq, row)
    run.finish("done")
    return run


@pytest.mark.django_db
def test_it_embeds_earlier_runs_and_link_references_for_the_chart(client, learner, make_run):
    earlier = finished(make_run(learner), cpu_ranks(2), sweep_row(1024, 0.002, 500.0))
    run = make_run(learner)
    client.force_login(learner)
    chart = client.get(f"/lab/runs/{run.pk}/").context["chart"]
    assert [series["run"] for series in chart["compare"]] == [earlier.pk]
    assert chart["compare"][0]["points"] == [[1024, 0.002, 500.0]]
    assert chart["compare"][0]["label"] == f"#{earlier.pk} CPU (gloo) (measured)"
    assert any("NVLink" in ref["label"] and "(modelled)" in ref["label"] for ref in chart["references"])


@pytest.mark.django_db
def test_it_labels_the_status_block_with_the_runs_devices_for_the_live_chart(client, learner, make_run):
    """runchart.js renames the chart's series from data-setting once the worker picks devices."""
    queued = make_run(learner)
    client.force_login(learner)
    assert 'data-setting="devices not chosen yet"' in client.get(f"/lab/runs/{queued.pk}/").content.decode()
    queued.mark_running(worker="tplab@node1", devices=nccl_gpus(0, 1))
    pinned = make_run(learner, gpus="2,3", p2p="")
    pages = {run.pk: client.get(f"/lab/runs/{run.pk}/").content.decode() for run in (queued, pinned)}
    assert 'data-setting="GPU0+GPU1, P2P on"' in pages[queued.pk]
    assert 'data-setting="GPU2+GPU3, P2P off"' in pages[pinned.pk]


@pytest.mark.django_db
def test_it_compares_like_with_like_one_series_per_setting(client, learner, other_learner, make_run):
    row = sweep_row(1024, 0.5, 4.0)
    pair = dict(nproc=2, dtype="bfloat16")
    finished(make_run(learner, **pair, gpus="0,1"), nccl_gpus(0, 1), row)  # superseded by the next
    p2p_on = finished(make_run(learner, **pair, gpus="0,1"), nccl_gpus(0, 1), row)
    finished(make_run(learner, nproc=2, dtype="float32", gpus="0,1"), nccl_gpus(0, 1), row)  # other dtype
    finished(make_run(learner, nproc=4, dtype="bfloat16"), nccl_gpus(0, 1, 2, 3), row)  # other rank count
    finished(make_run(learner, **pair, op="all_gather", gpus="0,1"), nccl_gpus(0, 1), row)  # other op
    finished(make_run(other_learner, **pair, gpus="2,3"), nccl_gpus(2, 3), row)  # not this learner's
    make_run(learner, **pair, gpus="2,3")  # not finished
    p2p_off = finished(make_run(learner, **pair, gpus="0,1", p2p=""), nccl_gpus(0, 1, p2p=False), row)
    other_pair = finished(make_run(learner, **pair, gpus="2,3"), nccl_gpus(2, 3), row)
    run = make_run(learner, **pair, gpus="0,1")
    client.force_login(learner)
    chart = client.get(f"/lab/runs/{run.pk}/").context["chart"]
    assert chart["current"]["label"] == f"#{run.pk} GPU0+GPU1, P2P on (this run, measured)"
    assert [(s["run"], s["label"]) for s in chart["compare"]] == [
        (other_pair.pk, f"#{other_pair.pk} GPU2+GPU3, P2P on (measured)"),
        (p2p_off.pk, f"#{p2p_off.pk} GPU0+GPU1, P2P off (measured)"),
        (p2p_on.pk, f"#{p2p_on.pk} GPU0+GPU1, P2P on (measured)"),
    ]
    assert chart["like"] == "all-reduce, bfloat16, 2 ranks"


@pytest.mark.django_db
def test_it_names_the_node_only_when_the_series_ran_on_different_nodes(client, learner, make_run, lab_node):
    from tpworkers.models import Node

    elsewhere = Node.objects.create(cluster=lab_node.cluster, hostname="box2", queue="node.local.box2")
    remote = make_run(learner, gpus="0,1")
    type(remote).objects.filter(pk=remote.pk).update(node=elsewhere)
    remote.refresh_from_db()
    finished(remote, nccl_gpus(0, 1), sweep_row(1024, 0.5, 4.0))
    run = make_run(learner, gpus="0,1")
    client.force_login(learner)
    chart = client.get(f"/lab/runs/{run.pk}/").context["chart"]
    assert chart["current"]["label"] == f"#{run.pk} GPU0+GPU1, P2P on, on testnode (this run, measured)"
    assert chart["compare"][0]["label"] == f"#{remote.pk} GPU0+GPU1, P2P on, on box2 (measured)"


@pytest.mark.django_db
def test_it_draws_the_cost_models_ring_all_reduce_at_every_size(client, learner, make_run):
    from tpworkers.catalog.costmodel import busbw_Bps, link_allreduce_time_s
    from tpworkers.catalog.links import LINKS

    run = make_run(learner)  # 1K, 4K, 16K on 2 ranks
    client.force_login(learner)
    nvlink = next(ref for ref in client.get(f"/lab/runs/{run.pk}/").context["chart"]["references"]
                  if ref["link"] == "nvlink4")
    seconds = link_allreduce_time_s(4096, 2, LINKS["nvlink4"])
    assert [point[0] for point in nvlink["points"]] == [1024, 4096, 16384]
    assert nvlink["points"][1] == [4096, busbw_Bps("all_reduce", 2, 4096, seconds) / 1e9, seconds * 1e6]
    assert nvlink["label"].endswith("(modelled)")


@pytest.mark.django_db
def test_it_refreshes_an_active_run_page_without_javascript_and_stops_when_it_ends(client, learner, make_run):
    run = make_run(learner)
    client.force_login(learner)
    refresh = '<noscript><meta http-equiv="refresh" content="5"></noscript>'
    page = client.get(f"/lab/runs/{run.pk}/").content.decode()
    assert refresh in page and "data-connection-notice" in page
    run.finish("done")
    page = client.get(f"/lab/runs/{run.pk}/").content.decode()
    assert refresh not in page and "data-connection-notice" not in page and "ws-connect" not in page


@pytest.mark.django_db
def test_it_draws_every_layer_bar_on_the_scale_of_the_longest_forward(client, learner, lab_node):
    import re

    from tpworkers.forms import LayerForm
    from tpworkers.models import ExperimentRun

    form = LayerForm({**LayerForm.defaults(), "tp_sizes": [1, 2, 4]})
    assert form.is_valid(), form.errors
    run = ExperimentRun.objects.create(owner=learner, node=lab_node, experiment="tp_layer", params=form.run_params())
    splits = {1: (900.0, 100.0), 2: (400.0, 100.0), 4: (150.0, 350.0)}  # forwards 1000, 500, 500 µs
    for seq, (tp, (compute, comm)) in enumerate(splits.items()):
        run.record(seq, {"kind": "mlp", "tp": tp, "forward_us": compute + comm, "compute_us": compute,
                         "comm_us": comm, "collectives": 2, "bytes_moved": 1 << 20})
    client.force_login(learner)
    page = client.get(f"/lab/runs/{run.pk}/").content.decode()
    widths = [(float(a), float(b)) for a, b in re.findall(
        r'class="compute" style="width: ([\d.]+)%"></span><span class="comm" style="width: ([\d.]+)%"', page)]
    assert widths == [(90.0, 10.0), (40.0, 10.0), (15.0, 35.0)]
    assert "compute 900 µs" in page and "communication 350 µs" in page


@pytest.mark.django_db
def test_it_heads_the_measured_and_modelled_decode_columns_apart(client, learner, lab_node):
    from tpworkers.forms import DecodeForm
    from tpworkers.models import ExperimentRun

    form = DecodeForm(DecodeForm.defaults())
    assert form.is_valid(), form.errors
    run = ExperimentRun.objects.create(owner=learner, node=lab_node, experiment="decode_comm", params=form.run_params())
    client.force_login(learner)
    page = client.get(f"/lab/runs/{run.pk}/").content.decode()
    assert '<th><span class="prov measured">measured</span> µs per token</th>' in page
    assert "α, B fitted here" in page and "if it ran on a catalog link" in page
    assert "<th>µs per token</th>" not in page


@pytest.mark.django_db
def test_it_shows_a_decode_record_beside_both_predictions(client, learner, lab_node):
    """A record from a real (small, gloo) decode run, so the page and the record agree on keys."""
    from tpworkers.measure.decode_comm import run_decode_comm
    from tpworkers.measure.configs import DecodeCommConfig
    from tpworkers.forms import DecodeForm
    from tpworkers.measure.launcher import shutdown_pool
    from tpworkers.models import ExperimentRun

    form = DecodeForm({**DecodeForm.defaults(), "link": "pcie5"})
    assert form.is_valid(), form.errors
    streamed = []
    try:
        record = run_decode_comm(DecodeCommConfig(model="llama-3.1-8b", tp=2, tokens_in_flight=2, dtype="float32",
                                                  link="pcie5", layers=1, steps=1, warmup=0, fit_iters=1),
                                 on_record=streamed.append)
    finally:
        shutdown_pool()
    run = ExperimentRun.objects.create(owner=learner, node=lab_node, experiment="decode_comm",
                                       params=form.run_params(), status=ExperimentRun.Status.DONE)
    run.record(0, record.to_dict())
    client.force_login(learner)
    page = client.get(f"/lab/runs/{run.pk}/").content.decode()
    if record.fitted_us_per_token is None:  # a noisy machine can defeat a one-iteration fit: say why
        assert record.fit_error and escape(record.fit_error) in page
    else:
        assert f"{record.fitted_us_per_token:,.1f}" in page  # modelled with α, B fitted on these ranks
    assert f"{record.modelled_us_per_token:,.1f}" in page  # modelled on the catalog link
    assert f"{record.measured_us_per_token:,.1f}" in page
    assert "PCIe Gen5 x16" in page and "after the decode steps" not in page
    measuring = ExperimentRun.objects.create(owner=learner, node=lab_node, experiment="decode_comm",
                                             params=form.run_params(), status=ExperimentRun.Status.RUNNING)
    measuring.record(0, streamed[0].to_dict())  # streamed after the steps, before the fit sweep
    page = client.get(f"/lab/runs/{measuring.pk}/").content.decode()
    assert "after the decode steps" in page and "no fit" not in page


@pytest.mark.django_db
def test_it_says_when_ranks_outnumber_the_cpu_cores_beside_the_numbers(client, learner, lab_node):
    """Issue 11: 4 gloo ranks on 2 cores made TP=4's compute go up, against the lesson, unremarked."""
    from tpworkers.forms import LayerForm
    from tpworkers.models import ExperimentRun

    lab_node.cpu_cores = 2
    lab_node.save()
    form = LayerForm({**LayerForm.defaults(), "tp_sizes": [1, 2, 4]})
    assert form.is_valid(), form.errors
    run = ExperimentRun.objects.create(owner=learner, node=lab_node, experiment="tp_layer", params=form.run_params())
    run.mark_running(worker="tplab@testnode", devices=cpu_ranks(4))
    client.force_login(learner)
    page = client.get(f"/lab/runs/{run.pk}/").content.decode()
    assert "4 ranks on 2 CPU cores: compute times are not comparable; this measures oversubscription" in page
    two = ExperimentRun.objects.create(owner=learner, node=lab_node, experiment="tp_layer",
                                       params={**form.run_params(), "tp_sizes": [1, 2]})
    two.mark_running(worker="tplab@testnode", devices=cpu_ranks(2))
    assert "oversubscription" not in client.get(f"/lab/runs/{two.pk}/").content.decode()
