from django.urls import path

from lessons.liveclass.consumers import LiveConsumer

websocket_urlpatterns = [
    path("ws/live/<int:cohort_id>/", LiveConsumer.as_asgi(), name="live_socket"),
]
