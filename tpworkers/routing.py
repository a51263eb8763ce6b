from django.urls import path

from tpworkers.consumers import RunConsumer

websocket_urlpatterns = [
    path("ws/runs/<int:run_id>/", RunConsumer.as_asgi(), name="run_socket"),
]
