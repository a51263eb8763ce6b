import pytest

from tpworkers.models import ExperimentRun
from tests.support_runs import cpu_ranks

SWEEP_FIELDS = {"op": "all_reduce", "min_size": "1K", "max_size": "1M", "factor": "4", "dtype": "float32",
                "nproc": "2", "warmup": "1", "iters": "5"}


@pytest.mark.django_db
def test_it_creates_a_default_sweep_owned_by_the_learner_and_queues_it(client, learner, lab_node,
                                                                     django_capture_on_commit_callbacks):
    client.force_login(learner)
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post("/lab/runs/")
    run = ExperimentRun.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/lab/runs/{run.pk}/"
    assert run.owner == learner and run.status == "queued"
    assert run.params["op"] == "all_reduce"
    assert (run.params["min_bytes"], run.params["max_bytes"], run.params["factor"]) == (1024, 64 << 20, 4)
    assert "sizes" not in run.params and "rows" not in run.params  # derived from the sweep, never stored twice
    assert run.planned_rows()[0] == "1 KiB" and run.planned_rows()[-1] == "64 MiB"
    assert run.node == lab_node and run.params["p2p"] is True and run.params["gpus"] == []
    assert len(callbacks) == 1  # the Celery task is sent only once the run is committed


@pytest.mark.django_db
def test_it_refuses_bad_parameters_with_the_reason(client, learner, lab_node):
    client.force_login(learner)
    response = client.post("/lab/runs/", {**SWEEP_FIELDS, "max_size": "2G"})
    assert response.status_code == 400
    assert "at most 256 MiB per rank" in response.content.decode()
    assert not ExperimentRun.objects.exists()


@pytest.mark.django_db
def test_it_refuses_a_size_it_cannot_read(client, learner, lab_node):
    client.force_login(learner)
    response = client.post("/lab/runs/", {**SWEEP_FIELDS, "min_size": "lots"})
    assert response.status_code == 400
    assert "is not a whole number" in response.content.decode()


@pytest.mark.django_db
def test_it_limits_how_many_runs_a_learner_has_in_flight(client, learner, make_run, settings):
    settings.MAX_ACTIVE_RUNS_PER_LEARNER = 1
    make_run(learner)
    client.force_login(learner)
    response = client.post("/lab/runs/", follow=True)
    assert ExperimentRun.objects.count() == 1
    assert "You already have 1 runs queued or running (the limit is 1)" in response.content.decode()


@pytest.mark.django_db
def test_it_accepts_only_post(client, learner):
    client.force_login(learner)
    assert client.get("/lab/runs/").status_code == 405


@pytest.mark.django_db
def test_it_says_when_no_worker_has_registered(client, learner):
    client.force_login(learner)
    response = client.post("/lab/runs/", follow=True)
    assert "No lab worker has registered yet" in response.content.decode()
    assert not ExperimentRun.objects.exists()


@pytest.mark.django_db
def test_it_refuses_gpus_that_do_not_match_the_ranks(client, learner, lab_node):
    client.force_login(learner)
    response = client.post("/lab/runs/", {**SWEEP_FIELDS, "gpus": "0,1,2"})
    assert response.status_code == 400
    assert "2 ranks need 2 GPUs, got 3" in response.content.decode()


@pytest.mark.django_db
def test_it_creates_a_sharded_layer_run_with_a_row_per_tp_size(client, learner, lab_node):
    client.force_login(learner)
    client.post("/lab/runs/", {"experiment": "tp_layer", "kinds": ["mlp"], "tp_sizes": ["1", "2", "4"],
                               "hidden": "256", "ffn": "1024", "heads": "8", "kv_heads": "4", "seq": "16",
                               "dtype": "float32", "warmup": "1", "iters": "2"})
    run = ExperimentRun.objects.get()
    assert run.experiment == "tp_layer"
    assert run.planned_rows() == ["TP=1 MLP", "TP=2 MLP", "TP=4 MLP"]


@pytest.mark.django_db
def test_it_turns_p2p_off_only_when_the_form_says_so(client, learner, lab_node):
    lab_node.gpu_count = 4
    lab_node.save()
    client.force_login(learner)
    fields = {**SWEEP_FIELDS, "gpus": "2,3"}
    client.post("/lab/runs/", fields)  # a preset button that never showed the checkbox
    assert ExperimentRun.objects.get().params["p2p"] is True
    ExperimentRun.objects.all().delete()
    client.post("/lab/runs/", {**fields, "p2p_shown": "True"})  # the lab form, box unticked
    params = ExperimentRun.objects.get().params
    assert params["p2p"] is False and params["gpus"] == [2, 3]


@pytest.mark.django_db
def test_it_remembers_the_lesson_that_asked_for_the_run(client, learner, lab_node):
    client.force_login(learner)
    client.post("/lab/runs/", {"next": "/lessons/all-reduce-tax/lab/"})
    client.post("/lab/runs/", {"next": "https://evil.example/phish"})
    first, second = ExperimentRun.objects.order_by("pk")
    assert first.return_to == "/lessons/all-reduce-tax/lab/"
    assert second.return_to == ""  # never send a learner off-site
    page = client.get(f"/lab/runs/{first.pk}/").content.decode()
    assert 'href="/lessons/all-reduce-tax/lab/"' in page


@pytest.mark.django_db
def test_it_refuses_a_smallest_size_of_zero(client, learner, lab_node):
    client.force_login(learner)
    response = client.post("/lab/runs/", {**SWEEP_FIELDS, "min_size": "0"})
    assert response.status_code == 400
    assert "must be at least 1 byte" in response.content.decode()
    assert not ExperimentRun.objects.exists()


@pytest.mark.django_db
def test_it_refuses_a_gpu_index_beyond_any_node(client, learner, lab_node):
    client.force_login(learner)
    response = client.post("/lab/runs/", {**SWEEP_FIELDS, "gpus": "0,64"})
    assert response.status_code == 400
    assert "GPU indices go from 0 to 63" in response.content.decode()


@pytest.mark.django_db
def test_it_refuses_gpus_the_node_does_not_have_before_queueing(client, learner, lab_node):
    lab_node.gpu_count = 2
    lab_node.save()
    client.force_login(learner)
    page = client.post("/lab/runs/", {**SWEEP_FIELDS, "gpus": "2,3"}, follow=True).content.decode()
    assert "cannot run on testnode: GPU 2 was asked for, but this node has 2 GPUs" in page
    assert not ExperimentRun.objects.exists()


BIG_LAYER = {"experiment": "tp_layer", "kinds": ["mlp", "attention", "layer"], "tp_sizes": ["1", "2", "4"],
             "hidden": "8192", "ffn": "32768", "heads": "64", "kv_heads": "8", "seq": "4096",
             "dtype": "float32", "warmup": "2", "iters": "50"}


@pytest.mark.django_db
def test_it_refuses_a_run_that_would_hold_the_node_past_the_budget(client, learner, lab_node):
    from tpworkers.experiments import RUN_BUDGET_S

    client.force_login(learner)
    page = client.post("/lab/runs/", BIG_LAYER, follow=True).content.decode()
    assert not ExperimentRun.objects.exists()
    assert f"the limit is {RUN_BUDGET_S // 60} min per run" in page and "gloo on CPU, 4 ranks" in page


@pytest.mark.django_db
def test_it_budgets_by_the_device_the_node_would_use(client, learner, lab_node):
    lab_node.gpu_count = 4  # the same layer on GPUs fits the budget
    lab_node.save()
    client.force_login(learner)
    client.post("/lab/runs/", BIG_LAYER)
    assert ExperimentRun.objects.get().params["hidden"] == 8192


@pytest.mark.django_db
def test_it_names_and_links_the_runs_that_count_towards_the_limit(client, learner, make_run, settings):
    settings.MAX_ACTIVE_RUNS_PER_LEARNER = 2
    first, second = make_run(learner), make_run(learner)
    second.mark_running(worker="tplab@testnode", devices=cpu_ranks(2))
    client.force_login(learner)
    page = client.post("/lab/runs/", follow=True).content.decode()
    assert (f'(the limit is 2): <a href="/lab/runs/{first.pk}/">#{first.pk} (queued)</a>, '
            f'<a href="/lab/runs/{second.pk}/">#{second.pk} (running)</a>. Wait for one to finish') in page


@pytest.mark.django_db
def test_it_frees_the_limit_held_by_runs_whose_worker_died_unwatched(client, learner, make_run, settings,
                                                                     memory_layer):
    from datetime import timedelta

    from django.utils import timezone

    settings.MAX_ACTIVE_RUNS_PER_LEARNER = 1
    settings.RUN_STALL_TIMEOUT_S = 30
    orphan = make_run(learner)
    orphan.mark_running(worker="tplab@testnode", devices=cpu_ranks(2))
    ExperimentRun.objects.filter(pk=orphan.pk).update(last_progress_at=timezone.now() - timedelta(seconds=31))
    client.force_login(learner)
    response = client.post("/lab/runs/")
    orphan.refresh_from_db()
    assert orphan.status == "failed" and "stopped reporting" in orphan.error
    new = ExperimentRun.objects.exclude(pk=orphan.pk).get()
    assert response["Location"] == f"/lab/runs/{new.pk}/"


@pytest.mark.django_db
def test_it_sends_a_refused_lesson_run_back_to_the_lesson_with_the_reason(client, learner, make_run, settings):
    from django.contrib.messages import get_messages

    settings.MAX_ACTIVE_RUNS_PER_LEARNER = 1
    make_run(learner)
    client.force_login(learner)
    response = client.post("/lab/runs/", {"next": "/lessons/all-reduce-tax/lab/"})
    assert response.status_code == 302 and response["Location"] == "/lessons/all-reduce-tax/lab/"
    assert any("the limit is 1" in str(m) for m in get_messages(response.wsgi_request))


@pytest.mark.django_db
def test_it_refuses_another_learners_private_node_and_nodes_without_a_worker(client, learner, other_learner,
                                                                            lab_node):
    from django.utils import timezone

    from tpworkers.models import ClusterOwnership
    from tpworkers.models import Cluster, Node

    private = Cluster.objects.create(name="graces-rack")
    ClusterOwnership.objects.create(cluster=private, owner=other_learner)
    theirs = Node.objects.create(cluster=private, hostname="h100", queue="node.graces-rack.h100",
                                 last_heartbeat_at=timezone.now())
    pasted = Node.objects.create(cluster=Cluster.default(), hostname="pasted", queue="pasted.local.pasted")
    client.force_login(learner)
    for node in (theirs, pasted):
        response = client.post("/lab/runs/", {**SWEEP_FIELDS, "node": str(node.pk)})
        assert response.status_code == 400 and "Select a valid choice" in response.content.decode()
    assert not ExperimentRun.objects.exists()
    client.post("/lab/runs/", {**SWEEP_FIELDS, "node": str(lab_node.pk)})
    assert ExperimentRun.objects.get().node == lab_node



@pytest.mark.django_db
def test_it_refuses_a_tp_size_the_layer_or_model_cannot_split_by_the_cost_models_rule(client, learner, lab_node):
    """Issue 11: one validity rule (costmodel.tp_constraint_errors) for every form; the lab's
    layer and decode forms queued what the worker would then refuse."""
    from tpworkers.forms import DecodeForm, LayerForm

    client.force_login(learner)
    layer = client.post("/lab/runs/", {**LayerForm.defaults(), "experiment": "tp_layer", "heads": 6, "kv_heads": 2,
                                       "hidden": 1536, "tp_sizes": [1, 4]})
    assert layer.status_code == 400 and "6 heads are not divisible by TP=4" in layer.content.decode()
    decode = client.post("/lab/runs/", {**DecodeForm.defaults(), "experiment": "decode_comm", "model": "Gemma-3-27B",
                                        "tp": 3})
    assert decode.status_code == 400 and "32 heads are not divisible by TP=3" in decode.content.decode()
    assert not ExperimentRun.objects.exists()


def _in_parallel(press, times: int) -> list:
    """`press()` from `times` threads at once, each with its own database connection."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    start = threading.Barrier(times)

    def one(_):
        start.wait()
        try:
            return press()
        finally:
            connection.close()

    with ThreadPoolExecutor(times) as pool:
        return list(pool.map(one, range(times)))


@pytest.mark.django_db(transaction=True)
def test_it_holds_the_run_limit_when_presses_arrive_at_once(learner, lab_node, settings, monkeypatch):
    """200 parallel POSTs once made 14 active runs out of a limit of 2."""
    from django.test import Client

    from tpworkers import runs

    monkeypatch.setattr(runs, "queue_run", lambda run: None)  # no broker here; the rows are what count
    settings.MAX_ACTIVE_RUNS_PER_LEARNER = 2

    def press():
        client = Client()
        client.force_login(learner)
        return client.post("/lab/runs/", {**SWEEP_FIELDS, "max_size": "4K"}).status_code

    codes = _in_parallel(press, 12)
    assert ExperimentRun.objects.filter(owner=learner).count() == 2
    assert sorted(set(codes)) == [302]  # every press answered, the refused ones with their reason: no 500


@pytest.mark.django_db(transaction=True)
def test_it_keeps_a_run_queued_and_shows_its_page_while_the_broker_is_down(client, learner, lab_node, monkeypatch):
    from kombu.exceptions import OperationalError

    from tpworkers import runs

    def broker_down(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(runs.current_app, "send_task", broker_down)
    client.force_login(learner)
    response = client.post("/lab/runs/", SWEEP_FIELDS)
    run = ExperimentRun.objects.get()
    # the worker that starts next queues it again from the database (labworker.requeue_waiting_runs)
    assert response.status_code == 302 and response["Location"] == f"/lab/runs/{run.pk}/"
    assert run.status == "queued"
