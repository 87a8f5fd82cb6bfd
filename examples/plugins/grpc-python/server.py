#!/usr/bin/env python3
"""A Tyk-compatible gRPC coprocess plugin server for Weir, in Python (grpcio).

It implements the `coprocess.Dispatcher` service and dispatches on `hook_name`, exactly as a
plugin server written for Tyk does, so it also works with Tyk unchanged.

Usage:
    server.py --listen 127.0.0.1:0          # TCP; port 0 lets the OS choose
    server.py --listen unix:/tmp/plugin.sock

Once serving it prints `LISTENING <address>` on stdout (with the real port).
Stubs are generated from the .proto with grpcio-tools at start-up (into --stubs-dir, or a
temporary folder removed once they are imported), so nothing generated is checked in.

Besides Tyk's hooks it serves Weir's stream hook extension (`DispatchGrpcMessage`) with the
"vision enricher" `HandleStream`, which decodes the vision example's messages
(examples/vision/proto/vision.proto, or --vision-proto-dir).
"""

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from concurrent import futures

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_PROTO_DIR = os.path.join(HERE, "..", "..", "..", "crates", "weir-plugin-grpc", "proto")
DEFAULT_VISION_PROTO_DIR = os.path.join(HERE, "..", "..", "vision", "proto")
VISION_METHOD = "/vision.VisionService/StreamDetections"


def generate(proto_dir, stubs_dir):
    """Runs grpcio-tools' protoc on every .proto of proto_dir, writing into stubs_dir."""
    from grpc_tools import protoc
    import importlib.resources

    include = str(importlib.resources.files("grpc_tools") / "_proto")
    protos = [f for f in os.listdir(proto_dir) if f.endswith(".proto")]
    code = protoc.main(
        ["grpc_tools.protoc", f"-I{proto_dir}", f"-I{include}",
         f"--python_out={stubs_dir}", f"--grpc_python_out={stubs_dir}"] + protos
    )
    if code != 0:
        sys.exit(f"protoc failed ({code}) on {proto_dir}")


def load_stubs(proto_dir, vision_proto_dir, stubs_dir):
    """Generates coprocess_pb2(_grpc).py and vision_pb2.py and imports them.

    Without the vision proto, HandleStream passes every message unchanged.
    """
    generate(proto_dir, stubs_dir)
    have_vision = os.path.isdir(vision_proto_dir)
    if have_vision:
        generate(vision_proto_dir, stubs_dir)
    else:
        print(f"server.py: no {vision_proto_dir}; HandleStream passes messages unchanged",
              file=sys.stderr)
    sys.path.insert(0, stubs_dir)
    import coprocess_pb2
    import coprocess_pb2_grpc
    vision = None
    if have_vision:
        import vision_pb2 as vision
    return coprocess_pb2, coprocess_pb2_grpc, vision


def make_vision_enricher(pb, vision):
    """The "vision enricher" stream hook: aliases camera ids on the way up, and on the way
    down blocks, drops or enriches DetectionEvents from the API's config_data."""
    from google.protobuf.message import DecodeError

    def unchanged():
        return pb.GrpcMessageReply(action=pb.MESSAGE_ACTION_PASS)

    def replaced(message):
        return pb.GrpcMessageReply(action=pb.MESSAGE_ACTION_PASS,
                                   payload=message.SerializeToString())

    def decode(cls, payload):
        message = cls()
        try:
            message.ParseFromString(payload)
        except DecodeError:
            return None
        return message

    def handle_stream(msg):
        if vision is None or msg.method != VISION_METHOD:
            return unchanged()
        try:
            config = json.loads(msg.config_data) if msg.config_data else {}
        except ValueError:
            config = {}
        if not isinstance(config, dict):
            config = {}

        def table(key):
            value = config.get(key)
            return value if isinstance(value, dict) else {}

        def ids(key):
            value = config.get(key)
            return {str(c) for c in value} if isinstance(value, list) else set()

        if msg.direction == pb.MESSAGE_DIRECTION_TO_UPSTREAM:
            request = decode(vision.DetectionRequest, msg.payload)
            aliases = table("aliases")
            if request is None or request.camera_id not in aliases:
                return unchanged()
            request.camera_id = str(aliases[request.camera_id])
            return replaced(request)

        event = decode(vision.DetectionEvent, msg.payload)
        if event is None:
            return unchanged()
        camera = event.camera_id
        if camera in ids("blocked"):
            return pb.GrpcMessageReply(action=pb.MESSAGE_ACTION_END, status_code=7,
                                       status_message=f"camera {camera} is blocked")
        if camera in ids("dropped"):
            return pb.GrpcMessageReply(action=pb.MESSAGE_ACTION_DROP)
        info = table("cameras").get(camera)
        if not isinstance(info, dict):
            # Unknown camera: no payload in the reply, so the very same bytes go on.
            return unchanged()
        event.camera_location = str(info.get("location", ""))
        event.camera_status = str(info.get("status", ""))
        event.install_date = str(info.get("install_date", ""))
        # The gateway sends header names lowercase.
        if "x-enrich-tag" in msg.headers:
            event.camera_location += f" #{msg.headers['x-enrich-tag']}"
        return replaced(event)

    return handle_stream


def make_dispatcher(pb, pb_grpc, vision):
    last_event = {"payload": ""}
    lock = threading.Lock()

    def my_pre_hook(obj):
        req = obj.request
        req.set_headers["X-Pre"] = "done"
        req.add_params["added"] = "yes"
        req.delete_params.append("remove_me")
        req.delete_headers.append("X-Remove")
        # Echo what the gateway sent, so the tests can check the Object it built.
        req.set_headers["X-Seen-Host"] = req.headers.get("Host", "")
        req.set_headers["X-Seen-Param"] = req.params.get("q", "")
        req.set_headers["X-Seen-Body"] = req.body
        req.set_headers["X-Seen-Raw-Len"] = str(len(req.raw_body))
        req.set_headers["X-Seen-Hook-Type"] = pb.HookType.Name(obj.hook_type)
        req.set_headers["X-Seen-Api"] = obj.spec.get("APIID", "")
        req.set_headers["X-Seen-Config"] = obj.spec.get("config_data", "")
        req.set_headers["X-Seen-Override"] = str(req.return_overrides.response_code)
        req.set_headers["X-Seen-Session"] = "yes" if obj.HasField("session") else "no"
        req.set_headers["X-Seen-Method"] = req.method
        req.set_headers["X-Seen-Uri"] = req.request_uri
        req.set_headers["X-Seen-Scheme"] = req.scheme
        return obj

    def my_post_hook(obj):
        req = obj.request
        req.url = "/rewritten/path?kept=1"
        req.method = "PUT"
        req.raw_body = b"new body"
        req.body = "this string is ignored by the gateway"
        req.delete_params.append("drop")
        req.set_headers["X-Seen-Session-Rate"] = repr(obj.session.rate)
        req.set_headers["X-Seen-Meta-User"] = obj.metadata.get("user", "")
        req.set_headers["X-Seen-Meta-Level"] = obj.session.metadata.get("level", "")
        # What Tyk hands hooks after custom auth: the auth hook's token in the metadata, the
        # API's organisation on the session, the bundle hash in the spec.
        req.set_headers["X-Seen-Token"] = obj.metadata.get("token", "")
        req.set_headers["X-Seen-Session-Org"] = obj.session.org_id
        req.set_headers["X-Seen-Bundle-Hash"] = obj.spec.get("bundle_hash", "")
        obj.session.quota_max = 555
        obj.session.metadata["seen_by"] = "MyPostHook"
        obj.metadata["post"] = "ran"
        return obj

    def my_auth_check(obj):
        auth = obj.request.headers.get("Authorization", "")
        if auth == "good-token":
            obj.session.rate = 100.0
            obj.session.per = 1.0
            obj.session.quota_max = 1000
            obj.session.quota_renewal_rate = 3600
            obj.session.metadata["user"] = "alice"
            obj.metadata["token"] = auth
        else:
            obj.request.return_overrides.response_code = 403
            obj.request.return_overrides.response_error = "Not authorised by the plugin"
        return obj

    def short_circuit(obj, code, body, override_error=False, error=""):
        ro = obj.request.return_overrides
        ro.response_code = code
        ro.response_body = body
        ro.override_error = override_error
        ro.response_error = error
        ro.headers["X-Short"] = "circuit"
        return obj

    def my_response_hook(obj):
        resp = obj.response
        resp.headers["X-Resp"] = "added"
        if "X-Drop" in resp.headers:
            del resp.headers["X-Drop"]
        resp.raw_body = b"rewritten: " + resp.raw_body
        resp.body = "ignored"
        resp.status_code = 202
        return obj

    def slow(obj):
        time.sleep(30)
        return obj

    def garbage(obj):
        obj.ClearField("response")
        obj.ClearField("request")
        return obj

    def bad_url(obj):
        obj.request.url = "not a url"
        return obj

    def last_event_hook(obj):
        with lock:
            obj.request.set_headers["X-Last-Event"] = last_event["payload"]
        return obj

    hooks = {
        "MyPreHook": my_pre_hook,
        "MyPostHook": my_post_hook,
        "MyAuthCheck": my_auth_check,
        "MyShortCircuit": lambda o: short_circuit(o, 200, "short-circuited"),
        "MyShortCircuitTeapot": lambda o: short_circuit(o, 418, "I'm a teapot", override_error=True),
        "MyShortCircuitDenied": lambda o: short_circuit(o, 401, "", error="denied by plugin"),
        "MyResponseHook": my_response_hook,
        "Slow": slow,
        "Garbage": garbage,
        "BadUrl": bad_url,
        "LastEvent": last_event_hook,
    }

    stream_hooks = {
        "HandleStream": make_vision_enricher(pb, vision),
    }

    class Dispatcher(pb_grpc.DispatcherServicer):
        def Dispatch(self, obj, context):
            hook = hooks.get(obj.hook_name)
            # Unknown hooks pass the Object through unchanged, as Tyk plugin servers do.
            return hook(obj) if hook else obj

        def DispatchEvent(self, event, context):
            payload = json.loads(event.payload)
            with lock:
                last_event["payload"] = payload.get("handler_name", "")
            return pb.EventReply()

        def DispatchGrpcMessage(self, msg, context):
            # Weir's stream hook extension: one call per gRPC message.
            hook = stream_hooks.get(msg.hook_name)
            return hook(msg) if hook else pb.GrpcMessageReply(action=pb.MESSAGE_ACTION_PASS)

    return Dispatcher()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", required=True, help="host:port or unix:/path.sock")
    parser.add_argument("--proto-dir", default=DEFAULT_PROTO_DIR)
    parser.add_argument("--vision-proto-dir", default=DEFAULT_VISION_PROTO_DIR)
    parser.add_argument("--stubs-dir", default=None)
    args = parser.parse_args()

    proto_dir = os.path.abspath(args.proto_dir)
    vision_dir = os.path.abspath(args.vision_proto_dir)
    if args.stubs_dir:
        pb, pb_grpc, vision = load_stubs(proto_dir, vision_dir, args.stubs_dir)
    else:
        # Once imported the modules live in memory: the folder can go at once, which also
        # leaves nothing behind when the server is killed.
        with tempfile.TemporaryDirectory(prefix="weir-grpc-stubs-") as stubs_dir:
            pb, pb_grpc, vision = load_stubs(proto_dir, vision_dir, stubs_dir)

    import grpc

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    pb_grpc.add_DispatcherServicer_to_server(make_dispatcher(pb, pb_grpc, vision), server)
    if args.listen.startswith("unix:"):
        server.add_insecure_port(args.listen)
        address = args.listen
    else:
        host, _, _ = args.listen.rpartition(":")
        port = server.add_insecure_port(args.listen)
        if port == 0:
            sys.exit(f"cannot listen on {args.listen}")
        address = f"{host}:{port}"
    server.start()
    print(f"LISTENING {address}", flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
