"""Waiting on the page's state without eval inside the page.

Playwright's wait_for_function polls by evaluating its string with eval in the page, which the
lab's CSP (script-src 'self') refuses whenever the first check is not already true. page.evaluate
goes through the browser's debugging protocol, which the CSP does not govern: poll with it.
"""
import time


def wait_for_js(page, expression: str, timeout_ms: int = 30_000, every_s: float = 0.05):
    """Return the first truthy value of ``expression``; fail after ``timeout_ms`` naming it."""
    deadline = time.monotonic() + timeout_ms / 1000
    while True:
        value = page.evaluate(expression)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout_ms} ms: {expression}")
        time.sleep(every_s)


SERVICE_RESTART = 1012  # a websocket close code the htmx ws extension retries after


def drop_first_socket(page, url_glob: str) -> list:
    """Close the page's first websocket to ``url_glob`` as a restarting lab would, and pass
    every later one through to the server. Returns the connections seen, in order."""
    connections = []

    def route(ws):
        connections.append(ws)
        if len(connections) == 1:
            ws.close(code=SERVICE_RESTART, reason="lab restarting")
        else:
            ws.connect_to_server()

    page.route_web_socket(url_glob, route)
    return connections
