from datetime import timedelta

from django import template

from lessons.figures import format_number

register = template.Library()


@register.filter
def interval(value: timedelta) -> str:
    """An FSRS interval as a person reads it: minutes under an hour, hours under a day, else days."""
    seconds = value.total_seconds()
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size or unit == "minute":
            count = seconds / size
            return f"{format_number(round(count, 1))} {unit}{'' if count == 1 else 's'}"
    return ""
