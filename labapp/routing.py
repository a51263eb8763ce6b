from lessons.liveclass.routing import websocket_urlpatterns as liveclass_ws
from tpworkers.routing import websocket_urlpatterns as tpworkers_ws

websocket_urlpatterns = [*tpworkers_ws, *liveclass_ws]
