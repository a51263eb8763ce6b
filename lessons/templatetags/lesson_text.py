from django import template

from lessons.content_format import render

register = template.Library()


@register.filter
def md(text):
    """Lesson Markdown with computed figures and glossary terms, as block HTML."""
    return render(text)


@register.filter
def mdi(text):
    """The same, for one line inside a label or a button."""
    return render(text, inline=True)


@register.filter
def figure(value):
    """A number as lesson prose prints it (three significant figures, no trailing zeros)."""
    from lessons.figures import format_number

    return format_number(value)
