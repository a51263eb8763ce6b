"""Recall, teach-back, calculator and decision tree steps, through their views (lab and
cluster steps: test_lesson_lab.py, test_lesson_cluster.py)."""
import re

import pytest

from lessons.calculators import COMPARED_LINKS
from lessons.figures import format_value
from lessons.models import ChecklistTick, Progress, RecallRating, StepOpened, TeachBack
from tpworkers.catalog import costmodel
from tpworkers.catalog.gpus import get_gpu
from tpworkers.catalog.links import get_link
from tpworkers.catalog.modelshapes import get_model

QUERIES_PER_STEP_PAGE = 8  # session, user, the lesson, its steps, the position, what is done (1 UNION), the rating, the nav's review due count


def test_it_covers_the_recall_answer_and_stores_the_rating(logged_in, learner):
    url = "/lessons/what-tp-splits/recall-col-row/"
    page = logged_in.get(url).content.decode()
    assert '<details class="recall-answer" >' in page and "Show the answer" in page
    logged_in.post(url + "rate/", {"rating": "hard"})
    assert list(RecallRating.objects.values_list("learner", "rating")) == [(learner.id, "hard")]
    assert logged_in.post(url + "rate/", {"rating": "perfect"}).status_code == 400


def test_it_saves_the_teachback_before_showing_the_model_answer_and_checklist(logged_in, learner):
    url = "/lessons/what-tp-splits/teach/"
    assert "A model answer" not in logged_in.get(url).content.decode()
    assert logged_in.post(url + "checklist/", {"item": ["0"]}).status_code == 409
    logged_in.post(url + "teachback/", {"text": "TP splits the weights of every layer across GPUs."})
    page = logged_in.get(url).content.decode()
    assert "A model answer" in page and "TP splits the weights of every layer" in page
    logged_in.post(url + "checklist/", {"item": ["0", "2", "99"]})
    assert TeachBack.objects.get(learner=learner).checked == [0, 2]


def test_it_computes_the_calculator_as_a_full_page_and_as_a_fragment(logged_in):
    url = "/lessons/all-reduce-tax/comm-calculator/"
    full = logged_in.get(url, {"model": "Llama-3.1-70B", "tp": "4", "tokens": "8", "dtype": "bf16"})
    assert "<html" in full.content.decode() and "161" in full.content.decode()  # 2 x 80 layers + 1 (embedding)
    fragment = logged_in.get(url, {"model": "Gemma-3-27B", "tp": "2", "tokens": "8", "dtype": "bf16"},
                             HTTP_HX_REQUEST="true", HTTP_HX_TARGET="calc-result").content.decode()
    expected = costmodel.decode_comm_per_token(get_model("Gemma-3-27B"), 2, 8, "bf16", get_link(COMPARED_LINKS[0]))
    assert fragment.lstrip().startswith('<div id="calc-result"')
    assert format_value(expected.seconds_per_token, "ms") in fragment


def test_it_names_an_invalid_tp_size_in_the_memory_calculator(logged_in):
    page = logged_in.get("/lessons/tp-or-replicas/fit-calculator/", {"model": "Llama-3.1-70B", "tp": "3"}).content.decode()
    assert "64 heads are not divisible by TP=3" in page


def test_it_walks_the_decision_tree_by_the_learners_answers(logged_in):
    url = "/lessons/tp-or-replicas/tree/"
    assert "Do the weights, the KV cache" in logged_in.get(url).content.decode()
    page = logged_in.get(url, {"path": "0-0"}).content.decode()
    assert "Run TP=1 replicas, one per GPU." in page and f'href="{url}?path=' not in page
    assert "TP inside each node, pipeline parallelism across nodes." in logged_in.get(url, {"path": "1-1"}).content.decode()


def test_it_compares_the_nodes_one_can_rent_for_a_model_and_tp_size(logged_in):
    url = "/lessons/renting-a-node/node-calculator/"
    shape = get_model("Llama-3.1-70B")
    nvlink = costmodel.decode_step_floor(shape, "bf16", 4, 8, get_gpu("H100").hbm_Bps, get_link("nvlink4"))
    page = logged_in.get(url, {"model": "Llama-3.1-70B", "tp": "4", "tokens": "8", "dtype": "bf16"}).content.decode()
    assert (f"<th>8× H100 SXM (NVLink 4 through NVSwitch)</th><td>{format_value(nvlink.comm_s, 'ms')} of all-reduces"
            in page)
    assert "a bridge joins two GPUs: TP=4 would cross PCIe" in page and "InfiniBand NDR" in page
    pair = logged_in.get(url, {"model": "Qwen2.5-72B", "tp": "2", "tokens": "8", "dtype": "bf16"},
                         HTTP_HX_REQUEST="true", HTTP_HX_TARGET="calc-result").content.decode()
    rows = {row.split("</th>")[0]: row for row in pair.split("<th>")[1:]}
    assert "would cross PCIe" not in pair  # TP=2: the bridged pair is a candidate
    assert "do not fit its GPUs at this TP" in rows["8× H100 SXM (NVLink 4 through NVSwitch)"]  # 80 GB
    assert "do not fit" not in rows["8× H200 SXM (NVLink 4 through NVSwitch)"]  # 141 GB
    assert "64 heads are not divisible by TP=3" in logged_in.get(url, {"model": "Llama-3.1-70B", "tp": "3"}).content.decode()


def test_it_walks_the_node_renting_tree_to_a_bridged_pair(logged_in):
    page = logged_in.get("/lessons/renting-a-node/which-node/", {"path": "1-0"}).content.decode()
    assert "A bridged pair (H100 NVL) or two GPUs of an SXM node, at TP=2." in page
    assert "<code>NV12</code>" in page


def test_it_resumes_a_lesson_where_the_learner_left_off(logged_in, learner):
    assert logged_in.get("/lessons/the-wire/")["Location"] == "/lessons/the-wire/three-wires/"
    logged_in.get("/lessons/the-wire/topo/")
    assert logged_in.get("/lessons/the-wire/")["Location"] == "/lessons/the-wire/topo/"
    assert "resume at “Read the topology”" in logged_in.get("/lessons/").content.decode()
    assert Progress.objects.get(learner=learner).current_step.key == "topo"


def test_it_keeps_when_the_learner_first_opened_each_step(logged_in, learner):
    logged_in.get("/lessons/what-tp-splits/intro/")
    first = StepOpened.objects.get(learner=learner, step__key="intro").created_at
    logged_in.get("/lessons/what-tp-splits/what-is-split/")
    logged_in.get("/lessons/what-tp-splits/intro/")  # a second visit keeps the first time
    assert list(StepOpened.objects.order_by("id").values_list("step__key", flat=True)) == ["intro", "what-is-split"]
    assert StepOpened.objects.get(learner=learner, step__key="intro").created_at == first


def test_it_links_the_last_step_to_the_next_lesson_and_swaps_steps_with_htmx(logged_in):
    page = logged_in.get("/lessons/what-tp-splits/teach/").content.decode()
    assert 'href="/lessons/all-reduce-tax/"' in page and "Next lesson: The all-reduce tax" in page
    fragment = logged_in.get("/lessons/what-tp-splits/heads/", HTTP_HX_REQUEST="true",
                             HTTP_HX_TARGET="lesson-main").content.decode()
    assert fragment.lstrip().startswith('<article id="lesson-main"') and "<aside" not in fragment


def test_it_requires_a_login(client, db):
    assert client.get("/lessons/what-tp-splits/intro/")["Location"].startswith("/accounts/login/")


def test_it_keeps_every_checklist_save_with_its_time(logged_in, learner):
    url = "/lessons/what-tp-splits/teach/"
    logged_in.post(url + "teachback/", {"text": "TP splits the weights of every layer across GPUs."})
    logged_in.post(url + "checklist/", {"item": ["0", "1"]})
    logged_in.post(url + "checklist/", {"item": ["1"]})
    assert TeachBack.objects.get(learner=learner).checked == [1]
    history = list(ChecklistTick.objects.filter(learner=learner).order_by("id"))
    assert [tick.checked for tick in history] == [[0, 1], [1]] and all(tick.created_at for tick in history)


def _do(client, step):
    """Do what a step asks, through its views."""
    url = f"/lessons/{step.lesson.slug}/{step.key}/"
    client.get(url)
    if step.kind == "predict":
        positions = {f"pos_{item['key']}": str(i + 1) for i, item in enumerate(step.config.get("items", []))}
        choices = [choice["key"] for choice in step.config.get("choices", [])][:1]
        client.post(url + "guess/", {"value": "1", "choice": choices, **positions})
        client.post(url + "reveal/")
    elif step.kind == "lab":
        client.post(url + "guess/", {"value": "10"})
    elif step.kind == "recall":
        client.post(url + "rate/", {"rating": "good"})
    elif step.kind == "teachback":
        client.post(url + "teachback/", {"text": "TP splits the weights of every layer across GPUs."})


def test_it_finishes_a_lesson_when_every_step_is_done_not_when_the_last_is_opened(logged_in, learner):
    from lessons.models import Lesson

    lesson = Lesson.objects.get(slug="what-tp-splits")
    steps = list(lesson.live_steps())
    logged_in.get(f"/lessons/what-tp-splits/{steps[-1].key}/")  # the teach-back, opened, not written
    assert Progress.objects.get(learner=learner).finished_at is None
    assert f"0 of {len(steps)} steps done" in logged_in.get("/lessons/").content.decode()
    logged_in.get("/lessons/what-tp-splits/intro/")  # a step that only shows something is done once opened
    assert f"1 of {len(steps)} steps done" in logged_in.get("/lessons/").content.decode()
    for step in steps[:-1]:
        _do(logged_in, step)
    assert Progress.objects.get(learner=learner).finished_at is None  # the teach-back is not written yet
    _do(logged_in, steps[-1])
    assert Progress.objects.get(learner=learner).finished_at is not None
    index = logged_in.get("/lessons/").content.decode()
    assert "finished" in index and f"{len(steps)} of {len(steps)} steps done" in index


def test_it_labels_the_memory_calculator_by_where_each_figure_comes_from(logged_in):
    from tpworkers.catalog.costmodel import DEFAULT_OVERHEAD_FRACTION

    page = logged_in.get("/lessons/tp-or-replicas/fit-calculator/").content.decode()
    assert '<label for="id_gpu">GPU:</label>' in page
    assert f"overhead ({round(DEFAULT_OVERHEAD_FRACTION * 100):g}% of the GPU&#x27;s memory)" in page
    gpu_row = re.search(r"<th>H100 memory</th>.*?</tr>", page, re.S).group(0)
    assert "prov modelled" in gpu_row and "GPU catalog" in gpu_row and "reported" not in gpu_row
    shards = logged_in.get("/lessons/what-tp-splits/shard-calculator/").content.decode()
    assert "hidden-wide column-parallel layer (such as Q)" in shards


def test_it_makes_glossary_terms_focusable_with_a_visible_definition(logged_in):
    page = logged_in.get("/lessons/what-tp-splits/column-row/").content.decode()
    term = re.search(r'<span class="term" tabindex="0">all-reduce<span class="term-def" role="tooltip">([^<]+)</span>',
                     page)
    assert term and "every GPU ends with the element-wise sum" in term.group(1)
    assert '<section class="glossary">' in page  # the list in the side rail stays


def test_it_keeps_the_kv_cache_of_fp8_weights_in_bf16_as_the_findings_do(logged_in):
    """Issue 11: the fit calculator stored Gemma-3-27B's KV in FP8 (16.6 GB) beside findings
    that said 33.3 GB in bf16. One rule: KV in the activation dtype unless chosen."""
    from tpworkers.catalog import costmodel
    from tpworkers.catalog.gpus import get_gpu
    from tpworkers.catalog.modelshapes import get_model

    query = {"model": "Gemma-3-27B", "dtype": "fp8", "gpu": "H100", "tp": "1", "context": "8192", "batch": "8"}
    page = logged_in.get("/lessons/tp-or-replicas/fit-calculator/", query).content.decode()
    kv = costmodel.memory_fit(get_model("Gemma-3-27B"), "fp8", get_gpu("H100").memory_bytes, 8192, 8,
                              kv_dtype="bf16").kv
    kv_row = re.search(r"<th>KV cache per GPU[^<]*</th><td>([^<]+)</td>", page).group(0)
    assert f"{kv / 1e9:.1f} GB" in kv_row and "bf16" in kv_row
    assert '<option value="" selected>default: bf16 for fp8/int4 weights, else the weight dtype' in page
    chosen = logged_in.get("/lessons/tp-or-replicas/fit-calculator/", {**query, "kv_dtype": "fp8"}).content.decode()
    assert f"{kv / 2e9:.1f} GB" in re.search(r"<th>KV cache per GPU.*?</tr>", chosen, re.S).group(0)


@pytest.mark.parametrize("url, priced", [("/lessons/all-reduce-tax/comm-calculator/", "communication per token on"),
                                         ("/lessons/renting-a-node/node-calculator/", "per token at least")])
def test_it_refuses_a_tp_size_the_model_cannot_split_in_the_communication_calculators(logged_in, url, priced):
    """Issue 11: the communication calculator priced Gemma-3-27B at TP=3 (32 heads)."""
    page = logged_in.get(url, {"model": "Gemma-3-27B", "tp": "3", "tokens": "8", "dtype": "bf16"}).content.decode()
    assert "32 heads are not divisible by TP=3" in page
    assert priced not in page


def test_it_writes_nothing_when_a_learner_reopens_the_step_they_are_on(logged_in, learner,
                                                                       django_assert_num_queries):
    """Every GET used to save the learner's position: a class reloading pages queued on SQLite's
    one writer. Reopening the same step now reads only, in a bounded number of queries."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    url = "/lessons/what-tp-splits/recall-col-row/"
    logged_in.get(url)  # the first visit records the position
    with CaptureQueriesContext(connection) as queries:
        assert logged_in.get(url).status_code == 200
    writes = [q["sql"] for q in queries if q["sql"].split()[0].upper() in ("INSERT", "UPDATE", "DELETE")]
    assert writes == []
    with django_assert_num_queries(QUERIES_PER_STEP_PAGE):
        logged_in.get(url)
    other = "/lessons/what-tp-splits/teach/"
    logged_in.get(other)  # moving on is a change: saved
    assert Progress.objects.get(learner=learner).current_step.key == "teach"
