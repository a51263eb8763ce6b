"""Links the lab's pages build from names, never from typed paths: websocket routes (which
Django's {% url %} does not know: they live in tpworkers.routing) and lessons by slug."""

from django import template
from django.urls import URLResolver
from django.urls.resolvers import RegexPattern

from lessons.models import Lesson
from tpworkers.routing import websocket_urlpatterns

register = template.Library()

_websockets = URLResolver(RegexPattern(r"^/"), websocket_urlpatterns)


@register.simple_tag
def websocket_url(name: str, **kwargs) -> str:
    """{% websocket_url "run_socket" run_id=run.pk %} -> "/ws/runs/12/"."""
    return "/" + _websockets.reverse(name, **kwargs)


@register.filter
def lesson_title(slug: str) -> str:
    """A lesson's title from its slug; the slug itself while the lessons are not loaded."""
    return Lesson.objects.filter(slug=slug).values_list("title", flat=True).first() or slug
