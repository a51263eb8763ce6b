"""Generated variants of a numeric prediction: the same question with other inputs, so a review
rehearses the method rather than a remembered number.

A numeric predict step may declare (lessons/content/README.md)::

    variants:
      vary: {model: [Llama-3.1-70B, Qwen2.5-72B], tp: [2, 4, 8]}
      require: ['heads(model) % tp == 0']   # optional: claims every variant must satisfy
      prompt: "{{ given: model }} at TP={{ given: tp }} ..."
      answer: shard_shape(model, tp, "gate")[0]
      why: "... {{ calc: ffn(model) }} over {{ given: tp }} GPUs ..."

Every combination of the listed values is one variant (their cartesian product, in the order
written); a variant's seed is its index in that list. Its answer is ``answer`` evaluated by the
lesson figures' own evaluator (lessons.figures.evaluate) with the names bound to the variant's
values, in the step's unit and with its tolerance, so the number always comes from the cost
model. The validator evaluates every variant (``variant_errors``).
"""
from __future__ import annotations

import ast
import itertools
import math
import random

from lessons.content_format import FIGURE_RE, split_calc
from lessons.figures import FUNCTIONS, FigureError, evaluate, in_unit

MAX_VARIANTS = 200  # the validator evaluates them all on every load
FIELDS = ("vary", "prompt", "answer", "why")


def combinations(spec: dict) -> list[dict]:
    # Names in sorted order, not the stored order: PostgreSQL's jsonb reorders an object's keys,
    # and a seed must name the same variant whatever database holds the step.
    names = sorted(spec["vary"])
    return [dict(zip(names, values)) for values in itertools.product(*(spec["vary"][n] for n in names))]


def names_for(spec: dict, seed: int) -> dict:
    options = combinations(spec)
    return options[seed % len(options)]


def fresh_seed(spec: dict, rng: random.Random, previous: int | None = None) -> int:
    """A variant picked at random, other than ``previous`` when there is another."""
    count = len(combinations(spec))
    seeds = [s for s in range(count) if s != previous] or [0]
    return rng.choice(seeds)


def variant_config(config: dict, seed: int) -> dict:
    """The step's config as this variant asks it: its prompt, answer and why, with ``names``
    binding the inputs (predictions.answer_value and content_format.render read them)."""
    spec = config["variants"]
    return {**config, "prompt": spec["prompt"], "answer": spec["answer"], "why": spec["why"],
            "names": names_for(spec, seed), "seed": seed}


def _names_in_expression(expression: str) -> set[str]:
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError:
        return set()  # evaluating it reports the syntax error
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} - {
        n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}


def names_shown(text: str) -> set[str]:
    """The names a prose template shows: ``{{ given: NAME }}`` and names inside ``{{ calc }}``."""
    shown = set()
    for match in FIGURE_RE.finditer(text or ""):
        kind, body = match.groups()
        if kind == "given":
            shown.add(body.strip())
        elif kind == "calc":
            shown |= _names_in_expression(split_calc(body)[0])
    return shown


def _structure_errors(step: dict) -> list[str]:
    spec = step["variants"]
    if step.get("type") != "predict" or step.get("kind") != "numeric":
        return ["variants are for numeric predictions only"]
    if not isinstance(spec, dict) or any(not spec.get(f) for f in FIELDS):
        return [f"variants need {', '.join(FIELDS)}"]
    vary = spec["vary"]
    if not isinstance(vary, dict):
        return ["variants.vary must map each name to a list of values"]
    errors = []
    for name, values in vary.items():
        if not str(name).isidentifier() or name in FUNCTIONS:
            errors.append(f"variants.vary: {name!r} must be a plain name, not a figure function")
        if not isinstance(values, list) or not values or any(
                isinstance(v, bool) or not isinstance(v, (int, float, str)) for v in values):
            errors.append(f"variants.vary.{name}: a list of numbers or names")
    if errors:
        return errors
    count = math.prod(len(values) for values in vary.values())
    if not 2 <= count <= MAX_VARIANTS:
        return [f"variants: {count} combinations; between 2 and {MAX_VARIANTS}"]
    if not isinstance(spec.get("require", []), list):
        return ["variants.require must be a list of claims"]
    used = _names_in_expression(str(spec["answer"]))
    shown = names_shown(spec["prompt"])
    for name in vary:
        if name not in used:
            errors.append(f"variants vary {name!r} but the answer does not use it")
        if name not in shown:
            errors.append(f"variants vary {name!r} but the prompt never shows it "
                          f"({{{{ given: {name} }}}} or a calc that uses it)")
    errors += [f"variants: the answer uses {n!r}, which variants.vary does not list" for n in used - set(vary)]
    return errors


def variant_errors(step: dict) -> list[str]:
    """Everything wrong with a step's variants: the declaration, then every combination — the
    answer must be a positive finite number (a whole one where the tolerance is 0), each
    ``require`` claim must hold, and the prompt's and why's figures must evaluate. At most a
    few failing combinations are named, each with its values."""
    if "variants" not in step:
        return []
    errors = _structure_errors(step)
    if errors:
        return errors
    spec, failing = step["variants"], []
    figures = [split_calc(body)[0] for text in (spec["prompt"], spec["why"])
               for kind, body in FIGURE_RE.findall(text) if kind == "calc"]
    for names in combinations(spec):
        problem = _combination_error(step, spec, names, figures)
        if problem:
            failing.append(f"variant {_describe(names)}: {problem}")
    return failing[:5] + ([f"… and {len(failing) - 5} more variants"] if len(failing) > 5 else [])


def _combination_error(step: dict, spec: dict, names: dict, figures: list[str]) -> str | None:
    try:
        for claim in spec.get("require", []):
            if evaluate(str(claim), names) is not True:
                return f"the claim {claim!r} does not hold"
        value = evaluate(str(spec["answer"]), names)
        for expression in figures:
            evaluate(expression, names)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            return f"the answer {value!r} is not a positive number"
        if step.get("tolerance") == 0 and not float(in_unit(value, step.get("unit", ""))).is_integer():
            return f"the answer {value!r} is not a whole number, yet the tolerance is 0"
    except FigureError as exc:
        return str(exc)
    return None


def _describe(names: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in names.items())
