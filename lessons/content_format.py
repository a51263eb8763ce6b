"""The lesson file format: YAML with Markdown prose, plus three inline forms (see README.md).

``{{ calc: EXPR | UNIT }}``   a figure computed by the cost model at render time;
``{{ fact: FIGURE | SOURCE }}`` a published figure, shown with its source;
``{{ given: FIGURE }}``        an input the lesson chooses (a message size to try, a context);
``[[term]]`` / ``[[term|shown words]]``  a glossary term, defined on hover and on focus;
``[text](lesson:slug)``          a link to another lesson.
"""
from __future__ import annotations

import re
from functools import cache
from html import escape
from pathlib import Path

import markdown
import yaml
from django.utils.safestring import mark_safe

from lessons.figures import FigureError, evaluate, format_value

CONTENT_DIR = Path(__file__).parent / "content"
GLOSSARY_FILE = CONTENT_DIR / "glossary.yaml"

FIGURE_RE = re.compile(r"\{\{\s*(calc|fact|given)\s*:\s*(.*?)\s*\}\}", re.S)
TERM_RE = re.compile(r"\[\[([^\]|]+)(?:\|([^\]]+))?\]\]")
LESSON_LINK_RE = re.compile(r"\]\(lesson:([a-z0-9-]+)\)")


def lesson_files() -> list[Path]:
    return sorted(p for p in CONTENT_DIR.glob("*.yaml") if p != GLOSSARY_FILE)


def read_lesson_file(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ValueError(f"{path.name}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path.name}: a lesson file must be a YAML mapping")
    return data


@cache
def glossary() -> dict[str, str]:
    return {str(k).lower(): str(v).strip() for k, v in yaml.safe_load(GLOSSARY_FILE.read_text()).items()}


def split_calc(body: str) -> tuple[str, str]:
    """'EXPR | UNIT' -> (EXPR, UNIT); the unit is optional."""
    expression, _, unit = body.rpartition("|") if "|" in body else (body, "", "")
    return expression.strip(), unit.strip()


def render_figure(match: re.Match, names: dict | None = None) -> str:
    """One inline figure as HTML. ``names`` are a variant's inputs: calc expressions may use
    them, and ``{{ given: NAME }}`` shows the variant's value of NAME."""
    kind, body = match.group(1), match.group(2)
    if kind == "calc":
        expression, unit = split_calc(body)
        try:
            text = format_value(evaluate(expression, names), unit)
        except FigureError as exc:
            return f'<span class="fig broken" title="{escape(str(exc))}">[figure error]</span>'
        return (f'<span class="fig modelled" title="computed by the cost model: '
                f'{escape(expression)}">{escape(text)}</span>')
    if kind == "fact":
        figure, _, source = body.partition("|")
        return (f'<span class="fig cited" title="{escape(source.strip())}">{escape(figure.strip())}</span>'
                f' <small class="cite">({escape(source.strip())})</small>')
    if names and body.strip() in names:
        return escape(format_value(names[body.strip()], ""))
    return escape(body)


def render_term(match: re.Match) -> str:
    """A glossary term the keyboard can reach: its definition shows on hover and on focus
    (a tap focuses it on touch screens), and a screen reader reads it after the term."""
    term, shown = match.group(1).strip(), (match.group(2) or match.group(1)).strip()
    definition = glossary().get(term.lower(), "")
    return (f'<span class="term" tabindex="0">{escape(shown)}'
            f'<span class="term-def" role="tooltip">{escape(definition)}</span></span>')


def render(text: str, inline: bool = False, names: dict | None = None) -> str:
    """Lesson Markdown -> safe HTML. Content is written by the course team (files or admin);
    ``names`` are a variant's inputs (lessons.variants)."""
    text = FIGURE_RE.sub(lambda match: render_figure(match, names), text or "")
    text = TERM_RE.sub(render_term, text)
    text = LESSON_LINK_RE.sub(lambda m: f"](/lessons/{m.group(1)}/)", text)
    html = markdown.markdown(text, extensions=["fenced_code", "tables"])
    if inline and html.startswith("<p>") and html.endswith("</p>") and html.count("<p>") == 1:
        html = html[3:-4]
    return mark_safe(html)
