"""A sharded layer's forward as one stacked bar, compute then communication, on a scale shared
by every bar of the table: the longest forward fills the width, so TP=1 and TP=4 compare in
absolute µs as well as in share. Server-rendered widths, readable without JavaScript; a longer
forward streaming in brings the earlier rows redrawn on its scale (events.measurement_events).

    {% load split_bars %}
    {% with longest=rows|longest_forward %}{% split_bar row.compute_us row.comm_us longest %}{% endwith %}
"""

from django import template

register = template.Library()


@register.filter
def longest_forward(records) -> float:
    """The longest compute + communication among records: dicts with compute_us and comm_us,
    or Measurements whose data has them."""
    forwards = [float(r.get("compute_us") or 0) + float(r.get("comm_us") or 0)
                for r in (getattr(record, "data", record) for record in records)]
    return max(forwards, default=0.0)


@register.inclusion_tag("tpworkers/split_bar.html")
def split_bar(compute_us, comm_us, longest_us=0.0) -> dict:
    compute_us, comm_us = float(compute_us or 0), float(comm_us or 0)
    forward_us = compute_us + comm_us
    scale = max(float(longest_us or 0), forward_us) or 1.0  # a row newer than the scale still fits
    return {
        "compute_us": compute_us, "comm_us": comm_us, "forward_us": forward_us,
        "compute_pct": 100 * compute_us / scale, "comm_pct": 100 * comm_us / scale,
        "comm_share": 100 * comm_us / forward_us if forward_us else 0.0,
    }
