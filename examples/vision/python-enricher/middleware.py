"""Seed 000's vision enricher as a Weir Python stream hook, running inside the gateway.

`HandleStream(message, session, spec)` runs on every gRPC message of
/vision.VisionService/StreamDetections. On the way up it rewrites a camera alias in the
DetectionRequest; on the way down it ends the call for a blocked camera, drops the events of a
dropped one, and fills camera_location, camera_status and install_date of each DetectionEvent
from the API's config_data (`cameras`, `aliases`, `blocked`, `dropped`). A request header
`X-Enrich-Tag: t` appends " #t" to the location.

Messages are decoded with the `protobuf` package (Debian's python3-protobuf, or a copy
installed into ./vendor with `pip install --target vendor protobuf`); the message classes are
built from vision_schema.py at import, so no protoc step is needed.
"""

import json

from tyk.decorators import Hook
from gateway import TykGateway as tyk

from vision_schema import DetectionEvent, DetectionRequest

METHOD = "/vision.VisionService/StreamDetections"


def _config(spec):
    try:
        conf = json.loads(spec.get("config_data") or "{}")
    except ValueError:
        return {}
    return conf if isinstance(conf, dict) else {}


@Hook
def HandleStream(message, session, spec):
    if message.method != METHOD:
        return message
    conf = _config(spec)
    if message.direction == "to_upstream":
        request = DetectionRequest()
        request.ParseFromString(message.payload)
        alias = conf.get("aliases", {}).get(request.camera_id)
        if alias is not None:
            request.camera_id = str(alias)
            message.payload = request
        return message
    event = DetectionEvent()
    try:
        event.ParseFromString(message.payload)
    except Exception:
        tyk.log("vision enricher: a message that is not a DetectionEvent passes", "warning")
        return message
    camera = event.camera_id
    if camera in conf.get("blocked", []):
        return {"grpc_status": 7, "grpc_message": "camera {0} is blocked".format(camera)}
    if camera in conf.get("dropped", []):
        return None
    info = conf.get("cameras", {}).get(camera)
    if not isinstance(info, dict):
        return message
    location = str(info.get("location", ""))
    tag = message.headers.get("X-Enrich-Tag")
    if tag is not None:
        location = "{0} #{1}".format(location, tag)
    event.camera_location = location
    event.camera_status = str(info.get("status", ""))
    event.install_date = str(info.get("install_date", ""))
    message.payload = event
    return message
