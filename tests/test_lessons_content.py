"""The course content: it validates, and every figure in it is the cost model's."""
import re

import pytest

from lessons.content_format import FIGURE_RE, lesson_files, read_lesson_file, render, split_calc
from lessons.figures import evaluate, format_value, in_unit
from lessons.validate import step_counts, validate_course, validate_lesson, validate_lesson_fields
from tpworkers.catalog import costmodel
from tpworkers.catalog.gpus import get_gpu
from tpworkers.catalog.links import get_link
from tpworkers.catalog.modelshapes import get_model

COURSE = [read_lesson_file(p) for p in lesson_files()]
SLUGS = {lesson["slug"] for lesson in COURSE}


def test_it_validates_every_lesson_in_the_course():
    assert validate_course(COURSE) == []


def test_it_ships_the_nine_lessons_in_order():
    assert [lesson["slug"] for lesson in sorted(COURSE, key=lambda l: l["order"])] == [
        "what-tp-splits", "all-reduce-tax", "the-wire", "tp-or-replicas", "sizing-tp", "cluster-findings",
        "hf-tp-plan", "renting-a-node", "interview-questions"]


@pytest.mark.parametrize("lesson", COURSE, ids=lambda l: l["slug"])
def test_it_gives_each_lesson_its_minimum_of_steps(lesson):
    counts = step_counts(lesson)
    assert counts["predictions"] >= 3 and counts["recalls"] >= 2
    assert counts["teachbacks"] >= 1 and counts["calculators or labs"] >= 1


def _expressions(value):
    if isinstance(value, dict):
        # a variant's templates use its names: tests/test_lesson_variants.py evaluates them
        for key, item in value.items():
            if key != "variants":
                yield from _expressions(item)
    elif isinstance(value, list):
        for item in value:
            yield from _expressions(item)
    elif isinstance(value, str):
        for match in FIGURE_RE.finditer(value):
            if match.group(1) == "calc":
                yield split_calc(match.group(2))


def test_it_computes_every_calc_figure_in_the_course():
    expressions = [e for lesson in COURSE for e in _expressions(lesson)]
    assert len(expressions) > 60
    for expression, unit in expressions:
        assert format_value(evaluate(expression), unit)


@pytest.mark.parametrize("expression,direct", [
    ('allreduce_bytes(hidden=16384, tokens=8, dtype="fp16")', costmodel.allreduce_bytes(16384, 8, "fp16")),
    ('allreduces_per_token("Llama-3.1-70B")', costmodel.allreduces_per_token(get_model("Llama-3.1-70B"))),
    ('comm_per_token("Gemma-3-27B", 2, 8, "bf16", "pcie5")',
     costmodel.decode_comm_per_token(get_model("Gemma-3-27B"), 2, 8, "bf16", get_link("pcie5")).seconds_per_token),
    ('valid_tp_sizes("Llama-3.1-70B")', costmodel.valid_tp_sizes(get_model("Llama-3.1-70B"))),
    ('memory_per_gpu("Llama-3.1-70B", "bf16", "H100", 8192, 8, tp=4)',
     costmodel.memory_fit(get_model("Llama-3.1-70B"), "bf16", 80e9, 8192, 8, tp=4).total),
    ('shard_shape("Llama-3.1-70B", 4, "gate")[0]', costmodel.shard_shapes(get_model("Llama-3.1-70B"), 4)["gate"][0]),
    ('decode_step("Llama-3.1-70B", 16, 8, "bf16", "H100", "ib-ndr")',
     costmodel.decode_step_floor(get_model("Llama-3.1-70B"), "bf16", 16, 8, get_gpu("H100").hbm_Bps,
                                 get_link("ib-ndr")).total_s),
    ('comm_share("Llama-3.1-8B", 8, 8, "bf16", "H100-PCIe", "pcie5")',
     costmodel.decode_step_floor(get_model("Llama-3.1-8B"), "bf16", 8, 8, get_gpu("H100-PCIe").hbm_Bps,
                                 get_link("pcie5")).comm_share),
])
def test_it_agrees_with_the_cost_model_called_directly(expression, direct):
    assert evaluate(expression) == direct


def test_it_matches_the_published_worked_example_of_256_kib():
    # facts.md: h = 16,384, 8 tokens, fp16 -> 256 KiB per all-reduce (Megatron decode example)
    step = next(s for s in COURSE[1]["steps"] if s["id"] == "bytes")
    assert in_unit(evaluate(step["answer"]), step["unit"]) == 256


def test_it_renders_a_figure_with_the_value_the_cost_model_gives():
    html = render('{{ calc: allreduce_bytes(hidden=16384, tokens=8, dtype="fp16") | KiB }}')
    assert ">256 KiB<" in html and "modelled" in html


def _lesson_with(step, **changes):
    lesson = {**COURSE[0], **changes}
    lesson["steps"] = [step]
    return lesson


def test_it_rejects_a_hand_typed_figure_in_a_why():
    step = {"id": "x", "type": "recall", "prompt": "How big?", "answer": "It is 256 KiB."}
    errors = validate_lesson(_lesson_with(step), SLUGS)
    assert any("hand-typed figure '256 KiB'" in e for e in errors)


@pytest.mark.parametrize("text,figure", [("It runs 160 all-reduces.", "160 all-reduces"),
                                         ("NVLink is 7.5x faster.", "7.5x"),
                                         ("The weights use a fifth of it.", "a fifth")])
def test_it_rejects_counts_multipliers_and_fractions_typed_into_prose(text, figure):
    step = {"id": "x", "type": "read", "body": text}
    assert any(f"hand-typed figure '{figure}'" in e for e in validate_lesson(_lesson_with(step), SLUGS))


def test_it_rejects_a_figure_typed_into_a_glossary_definition(monkeypatch):
    """Definitions show on hover beside every lesson's prose, as plain text: no figure form
    renders there, so a figure in one could only be typed by hand."""
    from lessons import validate
    from lessons.content_format import glossary

    nvlink = "NVIDIA's direct GPU-to-GPU link, 900 GB/s per GPU on H100."
    monkeypatch.setattr(validate, "glossary", lambda: {**glossary(), "nvlink": nvlink})
    assert validate_course(COURSE) == ["glossary 'nvlink': hand-typed figure '900 GB/s': a definition "
                                       "says what a term means; the figure belongs in a lesson's {{ calc }} "
                                       "or {{ fact }}"]


def test_it_checks_the_lessons_own_fields_as_the_admin_does():
    lesson = {**COURSE[0], "goal": "Learn why 80 layers cost 160 all-reduces.",
              "sources": [{"title": "no url"}], "infra_bridge": "See [it](https://example.com/x)."}
    errors = " ".join(validate_lesson_fields(lesson, SLUGS))
    assert "hand-typed figure '80 layers'" in errors and "hand-typed figure '160 all-reduces'" in errors
    assert "source 1 needs a title and an https url" in errors
    assert "'https://example.com/x' is neither" in errors
    assert validate_lesson_fields(COURSE[0], SLUGS) == []


def test_it_accepts_an_exact_tolerance_for_counts_and_rejects_a_missing_one():
    step = {"id": "x", "type": "predict", "kind": "numeric", "prompt": "How many?", "why": "w",
            "answer": 'allreduces_per_token("Llama-3.1-70B")', "unit": "", "tolerance": 0}
    assert validate_lesson(_lesson_with(step), SLUGS) == []
    del step["tolerance"]
    assert any("needs a relative tolerance" in e for e in validate_lesson(_lesson_with(step), SLUGS))


SWEEP = {"op": "all_reduce", "min_size": "1M", "max_size": "16M", "factor": 4, "dtype": "float32", "nproc": 2,
         "warmup": 1, "iters": 5}


def test_it_validates_a_lab_compared_with_another_lab_step():
    base = {"id": "on", "type": "lab", "prompt": "?", "why": "w", "preset": SWEEP, "at_size": "16M"}
    off = {"id": "off", "type": "lab", "prompt": "?", "why": "w", "preset": {**SWEEP, "p2p": False},
           "at_size": "16M", "versus": "on"}
    lesson = {**COURSE[0], "steps": [base, off]}
    assert validate_lesson(lesson, SLUGS) == []
    errors = " ".join(validate_lesson({**lesson, "steps": [base, {**off, "versus": "nowhere"}]}, SLUGS))
    assert "versus 'nowhere' is not another lab step" in errors
    errors = " ".join(validate_lesson({**lesson, "steps": [{**base, "preset": {**SWEEP, "max_size": "4M"},
                                                            "at_size": "4M"}, off]}, SLUGS))
    assert "does not measure the same collective at the predicted size" in errors


def test_it_rejects_a_single_choice_whose_answer_is_not_a_choice():
    step = {"id": "x", "type": "predict", "kind": "single", "prompt": "?", "why": "because",
            "choices": [{"key": "a", "text": "A"}, {"key": "b", "text": "B"}], "answer": "c"}
    assert any("answer 'c' is not one of the choices" in e for e in validate_lesson(_lesson_with(step), SLUGS))


def test_it_rejects_a_missing_answer_and_an_unknown_block():
    missing = {"id": "x", "type": "recall", "prompt": "?"}
    unknown = {"id": "y", "type": "quiz", "prompt": "?"}
    assert any("missing 'answer'" in e for e in validate_lesson(_lesson_with(missing), SLUGS))
    assert any("unknown step type 'quiz'" in e for e in validate_lesson(_lesson_with(unknown), SLUGS))


def test_it_rejects_dead_links_and_unknown_glossary_terms():
    step = {"id": "x", "type": "read",
            "body": "See [next](lesson:no-such-lesson), [page](/nowhere/), [blog](https://example.com/x) and [[flux capacitor]]."}
    errors = " ".join(validate_lesson(_lesson_with(step), SLUGS))
    assert "unknown lesson 'lesson:no-such-lesson'" in errors
    assert "'/nowhere/' does not resolve" in errors
    assert "'https://example.com/x' is neither" in errors
    assert "glossary has no term 'flux capacitor'" in errors


def test_it_rejects_a_claim_the_cost_model_disagrees_with():
    step = {"id": "x", "type": "read", "body": "TP=3 works.", "checks": ['3 in valid_tp_sizes("Llama-3.1-70B")']}
    assert any("disagrees" in e for e in validate_lesson(_lesson_with(step), SLUGS))


def test_it_rejects_a_lab_size_the_preset_does_not_sweep():
    step = {"id": "x", "type": "lab", "prompt": "?", "why": "w", "at_size": "3K",
            "preset": {"op": "all_reduce", "min_size": "1K", "max_size": "16K", "factor": 4,
                       "dtype": "float32", "nproc": 2, "warmup": 1, "iters": 5}}
    assert any("not one of the sizes" in e for e in validate_lesson(_lesson_with(step), SLUGS))


def test_it_refuses_anything_but_its_own_functions_in_an_expression():
    for expression in ('__import__("os").system("true")', "layers.__class__", "open('x')"):
        with pytest.raises(ValueError):
            evaluate(expression)
    assert re.search(r"unknown function 'open'", str(pytest.raises(ValueError, evaluate, "open('x')").value))


def test_it_validates_a_layer_lab_with_the_layer_runs_form():
    preset = {"kinds": ["mlp"], "tp_sizes": [1, 2], "hidden": 1024, "ffn": 4096, "seq": 8, "dtype": "float32",
              "warmup": 1, "iters": 5}
    step = {"id": "x", "type": "lab", "experiment": "tp_layer", "prompt": "?", "why": "w", "preset": preset,
            "at_tp": 2}
    assert validate_lesson(_lesson_with(step), SLUGS) == []
    errors = " ".join(validate_lesson(_lesson_with({**step, "at_tp": 4}), SLUGS))
    assert "at_tp 4 is not one of the preset's TP sizes" in errors
    errors = " ".join(validate_lesson(_lesson_with({**step, "preset": {**preset, "hidden": 10}}), SLUGS))
    assert "lab preset: hidden:" in errors
    assert "missing 'at_tp'" in " ".join(validate_lesson(_lesson_with({**step, "at_tp": None}), SLUGS))


def test_it_rejects_a_lab_experiment_no_lab_step_can_run():
    step = {"id": "x", "type": "lab", "experiment": "decode_comm", "prompt": "?", "why": "w",
            "preset": {"tp": 2}}
    assert any("unknown lab experiment 'decode_comm'" in e for e in validate_lesson(_lesson_with(step), SLUGS))


def test_it_refuses_a_relative_tolerance_on_a_step_that_promises_the_order_of_magnitude():
    step = {"id": "x", "type": "predict", "kind": "numeric", "why": "w", "unit": "ms",
            "prompt": "Guess; what matters is the order of magnitude.",
            "answer": 'comm_per_token("Gemma-3-27B", 2, 8, "bf16", "pcie5")', "tolerance": 0.25}
    assert any("order of magnitude" in e and "within_factor" in e for e in validate_lesson(_lesson_with(step), SLUGS))
    del step["tolerance"]
    step["within_factor"] = 3
    assert validate_lesson(_lesson_with(step), SLUGS) == []
    step["within_factor"] = 1
    assert any("within_factor" in e for e in validate_lesson(_lesson_with(step), SLUGS))


def test_it_refuses_a_numeric_answer_an_earlier_step_or_a_calculator_default_already_shows():
    """Issue 11: lesson 5's "Memory per GPU" answer was printed in lesson 4's reveal and was the
    fit calculator's default result, so the prediction was spoiled before it was asked."""
    expression = 'memory_per_gpu("Llama-3.1-70B", "bf16", "H100", 8192, 8, tp=4)'
    shown = format_value(evaluate(expression), "GB")
    earlier = {**COURSE[0], "slug": "earlier", "order": 1, "steps": [
        {"id": "r", "type": "read", "body": f"It comes to {{{{ calc: {expression} | GB }}}} per GPU."}]}
    calculator = {**COURSE[0], "slug": "calc", "order": 2, "steps": [
        {"id": "c", "type": "calculator", "prompt": "Try it.", "calculator": "memory_fit",
         "defaults": {"model": "Llama-3.1-70B", "dtype": "bf16", "gpu": "H100", "tp": 4, "context": 8192,
                      "batch": 8}}]}
    later = {**COURSE[0], "slug": "later", "order": 3, "steps": [
        {"id": "p", "type": "predict", "kind": "numeric", "prompt": "How many GB per GPU?", "why": "w",
         "answer": expression, "unit": "GB", "tolerance": 0.2}]}
    errors = validate_course([earlier, calculator, later])
    assert any(f"later: p: the answer {shown} is already shown in earlier: r" in e for e in errors)
    assert any(f"the answer {shown} is already shown in calc: c (the calculator's default result)" in e
               for e in validate_course([calculator, later]))
    assert not any("already shown" in e for e in validate_course([{**later, "order": 0}, earlier]))  # after it


def test_it_rejects_choice_keys_yaml_reads_as_booleans():
    step = {"id": "x", "type": "predict", "kind": "single", "prompt": "?", "why": "because",
            "choices": [{"key": True, "text": "Yes"}, {"key": False, "text": "No"}], "answer": False}
    assert any("keys must be text" in e and "quote yes, no" in e for e in validate_lesson(_lesson_with(step), SLUGS))


def test_it_validates_a_torchrun_step_by_its_script_and_form():
    step = {"id": "x", "type": "torchrun", "prompt": "Run it.", "script": "hf_tp_plan", "defaults": {"nproc": 4}}
    assert validate_lesson(_lesson_with(step), SLUGS) == []
    errors = " ".join(validate_lesson(_lesson_with({**step, "script": "vllm_serve"}), SLUGS))
    assert "unknown torchrun script 'vllm_serve' (known: hf_tp_plan)" in errors
    errors = " ".join(validate_lesson(_lesson_with({**step, "defaults": {"nproc": 6}}), SLUGS))
    assert "torchrun defaults: nproc: 16 heads are not divisible by TP=6" in errors
    assert "missing 'script'" in " ".join(validate_lesson(_lesson_with({**step, "script": ""}), SLUGS))
