"""A node's state as the cluster pages show it: online (its worker heartbeats), offline (it
had a worker that stopped) or pasted (described by pasted nvidia-smi output; no worker ever
ran on it, so "offline" would suggest something broke)."""

from django import template

register = template.Library()

LABELS = {"online": "online", "offline": "offline", "pasted": "pasted (no worker)"}


def state_of(node) -> str:
    if node.is_online():
        return "online"
    return "offline" if node.last_heartbeat_at else "pasted"


@register.inclusion_tag("tpworkers/node_state.html")
def node_state(node) -> dict:
    state = state_of(node)
    return {"state": state, "label": LABELS[state]}
