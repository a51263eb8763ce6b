"""Lab steps on the step page: predict, run the step's experiment, see the guess beside the
measurement. Lesson 2 sweeps an all-reduce; lesson 4 runs the sharded MLP at TP=1/2/4."""
import re

from lessons.models import Guess
from tpworkers.forms import LayerForm, SweepForm
from tpworkers.models import ExperimentRun
from tests.support_runs import cpu_ranks, nccl_gpus

SWEEP_STEP = "/lessons/all-reduce-tax/lab-256k/"
MLP_STEP = "/lessons/tp-or-replicas/lab-mlp/"
MLP_PRESET = {"kinds": ["mlp"], "tp_sizes": [1, 2, 4], "hidden": 1024, "ffn": 4096, "seq": 8,
              "dtype": "float32", "warmup": 2, "iters": 10}


def run_button_fields(page: str) -> dict[str, list[str]]:
    """The hidden inputs of the step's "Run on your cluster" form, as the browser posts them."""
    form = re.search(r'<form method="post" action="/lab/runs/" class="run-form">(.*?)</form>', page, re.S).group(1)
    fields = {}
    for name, value in re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', form):
        fields.setdefault(name, []).append(value)
    return fields


def layer_run(owner, rows, status="done", **overrides):
    form = LayerForm({**LayerForm.defaults(), **MLP_PRESET, **overrides})
    assert form.is_valid(), form.errors
    run = ExperimentRun.objects.create(owner=owner, experiment="tp_layer", params=form.run_params())
    for seq, row in enumerate(rows):
        run.record(seq, row)
    run.finish(status)
    return run


def mlp_row(tp, compute_us, comm_us):
    return {"tp": tp, "kind": "mlp", "tokens": 8, "forward_us": compute_us + comm_us, "compute_us": compute_us,
            "comm_us": comm_us, "collectives": 0 if tp == 1 else 1, "collective_bytes": [] if tp == 1 else [32768],
            "bytes_moved": 0 if tp == 1 else 32768}


def test_it_asks_for_a_prediction_before_offering_the_run(logged_in):
    page = logged_in.get(SWEEP_STEP).content.decode()
    assert "Commit my prediction" in page and "Run on your cluster" not in page
    logged_in.post(SWEEP_STEP + "guess/", {"value": "40"})
    fields = run_button_fields(logged_in.get(SWEEP_STEP).content.decode())
    assert fields["experiment"] == ["collective_sweep"] and fields["max_size"] == ["64M"]
    assert fields["next"] == [SWEEP_STEP]


def test_it_sets_the_measured_time_beside_the_guess(logged_in, learner):
    logged_in.post(SWEEP_STEP + "guess/", {"value": "40"})
    sweep = SweepForm({"op": "all_reduce", "min_size": "1K", "max_size": "16M", "factor": "4", "dtype": "float16",
                       "nproc": "2", "warmup": "2", "iters": "10"})
    assert sweep.is_valid()
    run = ExperimentRun.objects.create(owner=learner, experiment="collective_sweep", params=sweep.run_params())
    run.record(4, {"size_bytes": 262144, "time_us": 80.0})
    run.finish("done")
    page = logged_in.get(SWEEP_STEP).content.decode()
    assert "80 µs" in page and "2×" in page and "prov measured" in page and "NVLink 4" in page
    assert Guess.objects.get().correct is None


def test_it_runs_the_sharded_mlp_at_three_tp_sizes_and_links_back(logged_in, learner, lab_node):
    page = logged_in.get(MLP_STEP).content.decode()
    assert "the real sharded MLP" in page and "TP=1, TP=2, TP=4" in page
    assert 'name="value"' in page and page.count("%") >= 1
    logged_in.post(MLP_STEP + "guess/", {"value": "30"})
    fields = run_button_fields(logged_in.get(MLP_STEP).content.decode())
    assert fields["experiment"] == ["tp_layer"] and fields["tp_sizes"] == ["1", "2", "4"]

    response = logged_in.post("/lab/runs/", fields)
    run = ExperimentRun.objects.get()
    assert response["Location"] == f"/lab/runs/{run.pk}/"
    assert run.experiment == "tp_layer" and run.params["tp_sizes"] == [1, 2, 4] and run.params["kinds"] == ["mlp"]
    assert run.planned_rows() == ["TP=1 MLP", "TP=2 MLP", "TP=4 MLP"] and run.params["seq"] == 8
    assert run.return_to == MLP_STEP
    assert f'href="{MLP_STEP}"' in logged_in.get(response["Location"]).content.decode()


def test_it_sets_the_measured_communication_share_and_split_beside_the_guess(logged_in, learner):
    logged_in.post(MLP_STEP + "guess/", {"value": "50"})
    layer_run(learner, [mlp_row(1, 100.0, 0.0), mlp_row(2, 50.0, 30.0), mlp_row(4, 25.0, 75.0)])
    layer_run(learner, [mlp_row(4, 90.0, 10.0)], hidden=2048)  # newer, but another layer: not this step's
    page = logged_in.get(MLP_STEP).content.decode()
    measured = re.search(r'<td class="measured-value"><strong>([^<]*)</strong>', page).group(1)
    assert measured == "75 %"
    assert "1.5×" in page  # measured ÷ predicted
    assert "communication 30 µs" in page and "communication 75 µs" in page and "37.5%" in page  # TP=2's too
    # One scale for every bar (the longest forward, 100 µs, is the full width): TP=2's 80 µs
    # forward is 50% compute + 30% communication wide, not stretched to fill its row.
    assert 'style="width: 50.000%"></span><span class="comm" style="width: 30.000%"' in page
    assert "NVLink 4" in page and "prov modelled" in page
    assert Guess.objects.get().answer == 50


def test_it_waits_for_the_run_to_finish_before_the_comparison(logged_in, learner):
    logged_in.post(MLP_STEP + "guess/", {"value": "50"})
    run = layer_run(learner, [mlp_row(1, 100.0, 0.0)], status="running")
    page = logged_in.get(MLP_STEP).content.decode()
    assert f"Your run <a href=\"/lab/runs/{run.pk}/\">#{run.pk}</a> is running" in page
    assert "measured-value" not in page


PAIR_STEP = "/lessons/the-wire/lab-pair/"
P2P_OFF_STEP = "/lessons/the-wire/lab-pair-p2p-off/"
PAIR_PRESET = {"op": "all_reduce", "min_size": "1M", "max_size": "64M", "factor": "4", "dtype": "float32",
               "nproc": "2", "warmup": "2", "iters": "10"}


def sweep_run(owner, times_us: dict[int, float], devices=nccl_gpus(0, 1), **overrides):
    form = SweepForm({**SweepForm.defaults(), **PAIR_PRESET, **overrides})
    assert form.is_valid(), form.errors
    run = ExperimentRun.objects.create(owner=owner, experiment="collective_sweep", params=form.run_params(),
                                       devices=devices)
    for seq, (size, time_us) in enumerate(sorted(times_us.items())):
        run.record(seq, {"size_bytes": size, "time_us": time_us})
    run.finish("done")
    return run


def measured_value(page: str) -> str | None:
    match = re.search(r'<td class="measured-value"><strong>([^<]*)</strong>', page)
    return match.group(1) if match else None


def test_it_measures_only_runs_on_the_gpus_and_p2p_setting_the_prediction_is_about(logged_in, learner):
    logged_in.post(PAIR_STEP + "guess/", {"value": "1000"})
    sweep_run(learner, {64 << 20: 500.0})
    sweep_run(learner, {64 << 20: 9000.0}, gpus="2,3", p2p_shown="True")  # newer, another pair
    sweep_run(learner, {64 << 20: 7000.0}, p2p="", p2p_shown="True")  # newer, P2P off
    assert measured_value(logged_in.get(PAIR_STEP).content.decode()) == "500 µs"
    sweep_run(learner, {1 << 20: 10.0}, max_size="16M")  # newest, but it does not sweep the predicted size
    assert measured_value(logged_in.get(PAIR_STEP).content.decode()) == "500 µs"


def test_it_compares_the_measurement_with_the_first_guess_it_kept(logged_in, learner):
    from lessons.models import Step

    logged_in.post(MLP_STEP + "guess/", {"value": "50"})
    step = Step.objects.get(lesson__slug="tp-or-replicas", key="lab-mlp")
    Guess.objects.create(learner=learner, step=step, attempt=2, answer=10, correct=None)  # a stray later guess
    layer_run(learner, [mlp_row(1, 100.0, 0.0), mlp_row(2, 50.0, 30.0), mlp_row(4, 25.0, 75.0)])
    page = logged_in.get(MLP_STEP).content.decode()
    assert "1.5×" in page and "7.5×" not in page


def test_it_takes_one_prediction_per_lab_step(logged_in, learner):
    logged_in.post(PAIR_STEP + "guess/", {"value": "1000"})
    response = logged_in.post(PAIR_STEP + "guess/", {"value": "5"})
    assert response.status_code == 409 and "already committed" in response.content.decode()
    assert list(Guess.objects.values_list("answer", flat=True)) == [1000]


def test_it_predicts_the_p2p_off_ratio_and_sets_both_series_side_by_side(logged_in, learner):
    page = logged_in.get(P2P_OFF_STEP).content.decode()
    assert "NCCL P2P off (NCCL_P2P_DISABLE=1)" in page and "×" in page
    logged_in.post(P2P_OFF_STEP + "guess/", {"value": "4"})
    fields = run_button_fields(logged_in.get(P2P_OFF_STEP).content.decode())
    assert fields["p2p"] == ["False"] and fields["next"] == [P2P_OFF_STEP]
    off = sweep_run(learner, {16 << 20: 2000.0, 64 << 20: 8000.0}, p2p="", p2p_shown="True")
    off.transport = "SHM/direct/direct"
    off.save()
    page = logged_in.get(P2P_OFF_STEP).content.decode()
    assert measured_value(page) is None and "run <a" in page and "first, then come back" in page
    sweep_run(learner, {16 << 20: 500.0, 64 << 20: 1000.0})  # P2P on: the baseline step's run
    page = logged_in.get(P2P_OFF_STEP).content.decode()
    assert measured_value(page) == "8 ×"  # 8000 µs ÷ 1000 µs
    assert "2×" in page  # measured ÷ predicted
    assert "4×" in page and "SHM/direct/direct" in page  # the 16 MiB row of both series, and the transport
    assert "16 MiB" in page and "64 MiB" in page


def test_it_says_when_both_series_ran_on_cpu_where_p2p_does_not_apply(logged_in, learner):
    logged_in.post(P2P_OFF_STEP + "guess/", {"value": "1"})
    sweep_run(learner, {64 << 20: 1000.0}, devices=cpu_ranks(2))
    sweep_run(learner, {64 << 20: 1050.0}, devices=cpu_ranks(2), p2p="", p2p_shown="True")
    page = logged_in.get(P2P_OFF_STEP).content.decode()
    assert measured_value(page) == "1.05 ×" and "gloo on CPU, where NCCL and its P2P setting do not apply" in page


def test_it_compares_the_median_with_the_guess_not_a_mean_a_stall_pulled_up(logged_in, learner):
    """Issue 11: a 2,261 µs mean against a 518 µs median gave "56.5× your prediction"."""
    logged_in.post(SWEEP_STEP + "guess/", {"value": "518"})
    sweep = SweepForm({"op": "all_reduce", "min_size": "1K", "max_size": "16M", "factor": "4", "dtype": "float16",
                       "nproc": "2", "warmup": "2", "iters": "10"})
    assert sweep.is_valid()
    run = ExperimentRun.objects.create(owner=learner, experiment="collective_sweep", params=sweep.run_params())
    run.record(4, {"size_bytes": 262144, "time_us": 2261.0, "median_us": 518.0})
    run.finish("done")
    page = logged_in.get(SWEEP_STEP).content.decode()
    assert measured_value(page) == "518 µs" and "<td>1×</td>" in page


def test_it_warns_beside_the_split_when_tp_ranks_outnumbered_the_cores(logged_in, learner, lab_node):
    lab_node.cpu_cores = 2
    lab_node.save()
    page = logged_in.get(MLP_STEP).content.decode()
    assert "TP=4 runs 4 ranks on this node&#x27;s 2 CPU cores" in page  # said before the guess
    logged_in.post(MLP_STEP + "guess/", {"value": "50"})
    run = layer_run(learner, [mlp_row(1, 100.0, 0.0), mlp_row(2, 60.0, 30.0), mlp_row(4, 120.0, 75.0)])
    ExperimentRun.objects.filter(pk=run.pk).update(node=lab_node, devices=cpu_ranks(4))
    page = logged_in.get(MLP_STEP).content.decode()
    assert "4 ranks on 2 CPU cores: compute times are not comparable; this measures oversubscription" in page
