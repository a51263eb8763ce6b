"""Generated variants: their answers are the cost model's, and the validator refuses a bad one."""
import copy

import pytest

from lessons.content_format import lesson_files, read_lesson_file, render
from lessons.models import Step
from lessons.predictions import answer_value, judge
from lessons.validate import validate_step
from lessons.variants import combinations, variant_config
from tpworkers.catalog import costmodel
from tpworkers.catalog.modelshapes import get_model


def lesson_step(slug_prefix: str, key: str) -> dict:
    path = next(p for p in lesson_files() if p.name.startswith(slug_prefix))
    return next(s for s in read_lesson_file(path)["steps"] if s["id"] == key)


def as_variant(data: dict, seed: int) -> Step:
    config = {k: v for k, v in data.items() if k not in ("id", "type", "title")}
    return Step(key=data["id"], kind="predict", config=variant_config(config, seed))


def test_every_gate_column_variant_equals_the_cost_models_shard():
    data = lesson_step("01", "gate-columns")
    for seed, names in enumerate(combinations(data["variants"])):
        expected = costmodel.shard_shapes(get_model(names["model"]), names["tp"])["gate"][0]
        assert answer_value(as_variant(data, seed)) == expected


def test_every_message_size_variant_equals_the_cost_models_bytes_in_kib():
    data = lesson_step("02", "bytes")
    for seed, names in enumerate(combinations(data["variants"])):
        expected = costmodel.allreduce_bytes(get_model(names["model"]).hidden_size, names["tokens"], names["dtype"])
        assert answer_value(as_variant(data, seed)) == pytest.approx(expected / 1024)


def test_a_variant_is_judged_with_its_own_answer_and_the_steps_tolerance():
    data = lesson_step("02", "bytes")
    seed = next(i for i, n in enumerate(combinations(data["variants"])) if n == {
        "model": "Llama-3.1-8B", "tokens": 32, "dtype": "fp32"})
    step = as_variant(data, seed)
    target = costmodel.allreduce_bytes(4096, 32, "fp32") / 1024
    assert judge(step, target * 1.04) and not judge(step, target * 1.06)
    prompt = render(step.config["prompt"], names=step.config["names"])
    assert "Llama-3.1-8B" in prompt and "32" in prompt and "fp32" in prompt and "4,096" in prompt


def test_the_lesson_files_declare_variants_on_several_steps():
    declared = [s["id"] for p in lesson_files() for s in read_lesson_file(p)["steps"] if "variants" in s]
    assert len(declared) >= 3, declared


def errors_for(change) -> list[str]:
    data = copy.deepcopy(lesson_step("01", "gate-columns"))
    change(data)
    return validate_step("what-tp-splits/gate-columns", data, set(), {"what-tp-splits"})


def test_the_validator_accepts_the_lessons_variants():
    assert errors_for(lambda data: None) == []


def test_the_validator_names_a_tp_size_that_does_not_divide_the_model():
    errors = errors_for(lambda data: data["variants"]["vary"].update(tp=[2, 3]))
    assert any("variant model=Llama-3.1-70B, tp=3" in e and "not divisible by TP=3" in e for e in errors), errors


def test_the_validator_checks_each_require_claim_for_every_variant():
    errors = errors_for(lambda data: data["variants"].update(require=["tp < 8"]))
    assert any("tp=8: the claim 'tp < 8' does not hold" in e for e in errors), errors


def test_the_validator_refuses_an_input_the_prompt_never_shows():
    errors = errors_for(lambda data: data["variants"].update(prompt="How many output columns per GPU at TP={{ given: tp }}?"))
    assert any("vary 'model' but the prompt never shows it" in e for e in errors), errors


def test_the_validator_refuses_an_input_the_answer_does_not_use():
    def change(data):
        data["variants"]["vary"]["dtype"] = ["bf16", "fp8"]
        data["variants"]["prompt"] += " In {{ given: dtype }}."
    assert any("vary 'dtype' but the answer does not use it" in e for e in errors_for(change))


def test_the_validator_refuses_a_name_the_variant_does_not_declare():
    errors = errors_for(lambda data: data["variants"].update(answer='shard_shape(model, tp, kind)[0]'))
    assert any("uses 'kind', which variants.vary does not list" in e for e in errors), errors


def test_the_validator_refuses_a_hand_typed_figure_in_a_variants_prose():
    errors = errors_for(lambda data: data["variants"].update(why="Each GPU gets 7168 columns, about 14 KiB."))
    assert any("variants.why: hand-typed figure" in e for e in errors), errors


def test_the_validator_refuses_variants_on_a_choice_question():
    data = copy.deepcopy(lesson_step("01", "what-is-split"))
    data["variants"] = copy.deepcopy(lesson_step("01", "gate-columns")["variants"])
    assert "variants are for numeric predictions only" in " ".join(
        validate_step("x/what-is-split", data, set(), set()))
