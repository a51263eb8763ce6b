"""What a step of each kind must hold beyond its required fields (lessons.validate checks those,
and the prose): a prediction's answer among its choices and its tolerance rule, a teach-back's
checklist, a calculator's or torchrun script's defaults its form accepts, a decision tree with
no dangling branch, a lab preset its experiment's run form accepts. Each checker returns its
errors without the step's place; validate_step adds it.
"""
from lessons.calculators import CALCULATORS
from lessons.figures import UNITS, FigureError, evaluate
from lessons.labs import lab_for
from lessons.torchrun import SCRIPTS
from lessons.torchrun import bound_form as torchrun_form

PREDICT_KINDS = ("single", "multiple", "numeric", "ordering")


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _tolerance_errors(step: dict) -> list[str]:
    """A numeric guess is judged by exactly one rule: a relative ``tolerance`` in [0, 1], or
    ``within_factor`` > 1 (a log scale). A prompt that promises the order of magnitude must be
    judged on the log scale, or the grading breaks its word (±25% of 2.65 ms refuses 1 ms)."""
    tolerance, factor = step.get("tolerance"), step.get("within_factor")
    if factor is not None:
        if tolerance is not None:
            return ["numeric prediction takes a tolerance or a within_factor, not both"]
        return [] if _is_number(factor) and factor > 1 else [
            f"within_factor must be a number above 1 (3: from a third of the answer to 3 times it), got {factor!r}"]
    if not _is_number(tolerance) or not 0 <= tolerance <= 1:
        return ["numeric prediction needs a relative tolerance in [0, 1] (0: exact, for a count), "
                "or a within_factor above 1"]
    if "order of magnitude" in str(step.get("prompt", "")).lower():
        return ["the prompt promises the order of magnitude: judge it with within_factor (a log scale), "
                "not a relative tolerance"]
    return []


def _check_predict(step: dict) -> list[str]:
    kind, answer = step["kind"], step["answer"]
    if kind not in PREDICT_KINDS:
        return [f"predict kind {kind!r} is not one of {', '.join(PREDICT_KINDS)}"]
    if kind == "numeric":
        try:
            value = evaluate(str(answer))
        except FigureError as exc:
            return [f"numeric answer: {exc}"]
        errors = [] if _is_number(value) else [f"numeric answer {answer!r} is not a number"]
        if step.get("unit") not in UNITS:
            errors.append(f"numeric prediction needs a unit from {', '.join(UNITS)}")
        return errors + _tolerance_errors(step)
    options = step.get("items" if kind == "ordering" else "choices", [])
    keys = [o.get("key") for o in options]
    if not all(isinstance(key, str) for key in keys):
        return [f"{kind} prediction keys must be text, got {keys}: quote yes, no, on and off, "
                "which YAML reads as true and false"]
    if len(options) < (3 if kind == "ordering" else 2) or len(set(keys)) != len(keys) or not all(
            o.get("text") for o in options):
        return [f"{kind} prediction needs distinct keyed options, each with text"]
    if kind == "single" and answer not in keys:
        return [f"answer {answer!r} is not one of the choices {keys}"]
    if kind == "multiple" and (not isinstance(answer, list) or not set(answer) <= set(keys)):
        return [f"answer {answer!r} must be a list of choice keys {keys}"]
    if kind == "ordering" and sorted(answer or []) != sorted(keys):
        return [f"ordering answer {answer!r} must list every item key once"]
    return []


def _check_teachback(step: dict) -> list[str]:
    return [] if len(step["checklist"]) >= 2 else ["a teach-back needs at least two checklist items"]


def _check_calculator(step: dict) -> list[str]:
    if step["calculator"] not in CALCULATORS:
        return [f"unknown calculator {step['calculator']!r} (known: {', '.join(CALCULATORS)})"]
    from lessons.calculators import bound_form

    form = bound_form(step["calculator"], {}, step.get("defaults"))
    return [f"calculator defaults: {field}: {' '.join(e)}" for field, e in form.errors.items()]


def _check_torchrun(step: dict) -> list[str]:
    if step["script"] not in SCRIPTS:
        return [f"unknown torchrun script {step['script']!r} (known: {', '.join(SCRIPTS)})"]
    form = torchrun_form({}, step.get("defaults"))
    return [f"torchrun defaults: {field}: {' '.join(e)}" for field, e in form.errors.items()]


def _check_decision(step: dict) -> list[str]:
    nodes, errors, seen = step["nodes"], [], set()
    pending = [step["start"]]
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        node = nodes.get(name)
        if node is None:
            errors.append(f"decision branch leads to missing node {name!r}")
        elif node.get("options"):
            if not node.get("question"):
                errors.append(f"decision node {name!r} has options but no question")
            pending += [option.get("next") for option in node["options"]]
        elif not (node.get("verdict") and node.get("why")):
            errors.append(f"decision node {name!r} needs options, or a verdict and a why")
    errors += [f"decision node {name!r} cannot be reached" for name in set(nodes) - seen]
    return errors


def _check_lab(step: dict) -> list[str]:
    try:
        return lab_for(step).errors()
    except ValueError as exc:
        return [str(exc)]


CHECKERS = {"predict": _check_predict, "teachback": _check_teachback, "calculator": _check_calculator,
             "decision": _check_decision, "lab": _check_lab, "torchrun": _check_torchrun}
