"""htmx responses are fragments of the page's own template (template-partials): one template
serves the page without JavaScript and every swap, so the two cannot drift apart."""
from django.shortcuts import render


def render_page(request, page: str, context: dict, fragments: dict[str, str], status: int = 200):
    """``page`` whole; or, when htmx asks to swap an element whose id is a key of ``fragments``,
    the partial named there ("review/queue.html#item")."""
    target = request.htmx.target if request.htmx else None
    return render(request, fragments.get(target, page), context, status=status)
