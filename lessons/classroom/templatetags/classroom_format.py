from django import template

register = template.Library()


@register.filter
def percent(share) -> str:
    """0.4 -> '40%'; an undefined share (None) -> '–'."""
    return "–" if share is None else f"{100 * share:.0f}%"


@register.filter
def index(value) -> str:
    """A facility or discrimination index to two decimals; None -> '–' (undefined)."""
    return "–" if value is None else f"{value:.2f}"


@register.filter
def duration(seconds) -> str:
    """Seconds as a person reads them: '45 s', '3.5 min', '2.1 h'; None -> '–'."""
    if seconds is None:
        return "–"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
