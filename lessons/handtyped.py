"""Hand-typed figures: numbers in lesson prose that should be computed (``{{ calc }}``), cited
(``{{ fact }}``) or stated as the lesson's own input (``{{ given }}``).

A number typed into prose goes stale the day the cost model or its catalogs change, and a
learner cannot tell it from a measurement. So the validator flags, outside code spans and
figure forms:

- a number with a unit: bytes and bandwidths (256 KiB, 900 GB/s, 400 Gb/s, 32 GT/s), times
  (2.6 ms, 2.6 milliseconds), percentages (76%, 30 percent), clock rates and FLOP rates;
- a number with a multiplier: 7×, 7.5x, 7 times;
- a count of something the cost model or its catalogs know: 160 all-reduces, 80 layers,
  64 heads, 18 links, 8 GPUs, 2 ranks, 8 tokens, 70 billion;
- numbers in words where they make a figure: seven times, several times slower, a fifth of
  it, well over a hundred, a few microseconds, and any result after an equals sign
  ("= 2", "= two copies").

Counts in words ("two all-reduces per layer", "four GPUs") are not flagged: they state the
structure a lesson teaches (the formula), and flagging them would bury real figures in noise.
A multiplication between figures ("2 × {{ calc: ... }}", "2 × 7 ÷ 8") is arithmetic, not a
ratio. Identifiers are never figures: a number glued to letters or punctuation
(Llama-3.1-70B, TP=2, GPU0, NV12, Gen5, x16, H100, nccl#1161) or followed by no unit
(arXiv 1909.08053, a year), and a system named by its GPU count ("8× H100 SXM").
"""
from __future__ import annotations

import re

from lessons.content_format import FIGURE_RE

FIGURE_MARK = "\ue000"  # stands in for a figure form, so "2 × {{ calc }}" reads as arithmetic
CODE_RE = re.compile(r"```.*?```|`[^`]*`", re.S)
LINK_TARGET_RE = re.compile(r"\]\([^)]*\)")

_NUMBER = r"(?<![\w.#=/:-])\d[\d,]*(?:\.\d+)?"
_WORD = (r"(?:two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|sixteen|twenty|thirty|"
         r"forty|fifty|sixty|seventy|eighty|ninety|hundred|thousand|several|a\s+few)")
_UNIT = (r"(?:[kKMGTP]i?B(?:/s)?|[kMGT]b(?:it)?/s|GT/s|bytes?|bits?|µs|us|ms|ns|"
         r"(?:micro|milli|nano)?seconds?|minutes?|hours?|%|percent|per\s+cent|[GM]Hz|"
         r"T?FLOP/?s|tokens?/s)")
_COUNTED = (r"(?:(?:KV|query|attention)\s+)?(?:all-reduces?|all-gathers?|reduce-scatters?|collectives?|"
            r"layers?|heads?|parameters?|params|columns?|links?|NVLinks?|GPUs?|ranks?|tokens?|"
            r"sequences?|replicas?|copies|nodes?|lanes?|billion|million|thousand)")
_NOT_AN_OPERAND = rf"(?!\s*[\d({FIGURE_MARK}])"
_NOT_A_PRODUCT = r"(?!\s*(?:[A-Z]{1,3}\d|RTX\b))"  # "8× H100 SXM" names a system: a count, not a ratio

HAND_TYPED_RES = [
    re.compile(rf"{_NUMBER}(?:\s?{_UNIT}(?![\w/])|\s+B\b)"),  # 256 KiB, 2.6 ms, 76%, 8 B
    re.compile(rf"{_NUMBER}\s?(?:×|x(?!\w)|times\b){_NOT_AN_OPERAND}{_NOT_A_PRODUCT}"),  # 7×, 7.5x, 7 times
    re.compile(rf"{_NUMBER}\s+{_COUNTED}\b"),  # 160 all-reduces, 80 layers
    re.compile(rf"\b{_WORD}\s+times\b{_NOT_AN_OPERAND}", re.I),  # seven times, several times
    re.compile(rf"\b{_WORD}\s+{_UNIT}(?![\w/])", re.I),  # a few microseconds
    re.compile(r"\b(?:a|one|two|three)\s+(?:third|quarter|fifth|sixth|eighth|tenth|hundredth)s?\b", re.I),
    re.compile(r"\b(?:a|one|several|many)\s+(?:hundred|thousand|million|billion|dozen)s?\b", re.I),
    re.compile(rf"(?<=\s)=\s*(?:\d[\d,]*(?:\.\d+)?|{_WORD}\b|one\b)", re.I),  # "= 2", "= two copies"
]


def hand_typed_figures(text: str) -> list[str]:
    """Every hand-typed figure in ``text``, in the order they appear."""
    text = FIGURE_RE.sub(FIGURE_MARK, text or "")
    text = LINK_TARGET_RE.sub("]", CODE_RE.sub(" ", text))
    found = sorted((m.start(), m.group(0)) for pattern in HAND_TYPED_RES for m in pattern.finditer(text))
    figures, end = [], -1
    for start, figure in found:
        if start >= end:  # one report per place, however many patterns match it
            figures.append(" ".join(figure.split()))
            end = start + len(figure)
    return figures
