from django import template
from django.utils import timezone
from django.utils.html import conditional_escape
from django.utils.safestring import mark_safe
from django.utils.timesince import timesince

from tpworkers.catalog.links import LINKS
from tpworkers.catalog.sizes import binary_size
from tpworkers.diagnose import clusterview

register = template.Library()
register.filter("binary_size", binary_size)  # the one size label, shared with the run rows


@register.filter
def fixed(value, digits=1) -> str:
    if value in (None, ""):
        return "—"
    return f"{float(value):,.{int(digits)}f}"


@register.filter
def significant(value, digits=3) -> str:
    """Bandwidths span five orders of magnitude (KB/s of tiny gloo messages to NVLink's
    hundreds of GB/s): keep three significant digits instead of a fixed number of decimals."""
    if value in (None, ""):
        return "—"
    number = float(value)
    if abs(number) >= 10 ** int(digits):
        return f"{number:,.0f}"
    return f"{number:.{int(digits)}g}"


@register.filter
def plain(value) -> str:
    """A number for CSS or data attributes: no thousands separator, never localised."""
    return f"{float(value or 0):.3f}"


@register.filter
def op_name(op) -> str:
    """'all_reduce' -> 'all-reduce', as NCCL's documentation spells the collectives."""
    return str(op or "").replace("_", "-")


@register.filter
def link_name(key) -> str:
    """A catalog link's name from its key ('nvlink4' -> 'NVLink 4 (H100/H200 SXM, 18 links)')."""
    link = LINKS.get(key)
    return link.name if link else str(key or "")


@register.filter
def inline_code(text) -> str:
    """Plain text whose `backticked` commands show as code (findings name commands that way)."""
    parts = conditional_escape(str(text or "")).split("`")
    if len(parts) % 2 == 0:  # an unmatched backtick: leave the text as it is
        return mark_safe("`".join(parts))
    return mark_safe("".join(f"<code>{part}</code>" if i % 2 else part for i, part in enumerate(parts)))


@register.filter
def duration(delta) -> str:
    """A timedelta in words, as Django words a time since: '15 minutes', '1 hour'."""
    now = timezone.now()
    return timesince(now - delta, now)


@register.filter
def ago(moment) -> str:
    """A past moment as the cluster pages say it: '7 s ago', '3 min ago', '2 h ago'."""
    return clusterview.ago((timezone.now() - moment).total_seconds() if moment else None)
