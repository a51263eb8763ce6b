from tpworkers.routing import websocket_urlpatterns as tpworkers_ws

websocket_urlpatterns = [*tpworkers_ws]
