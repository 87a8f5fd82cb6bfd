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


def load_stubs(proto_dir, stubs_dir):
    """Generates coprocess_pb2(_grpc).py with grpcio-tools and imports them."""
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
    sys.path.insert(0, stubs_dir)
    import coprocess_pb2
    import coprocess_pb2_grpc
    return coprocess_pb2, coprocess_pb2_grpc


def make_dispatcher(pb, pb_grpc):
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

    return Dispatcher()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", required=True, help="host:port or unix:/path.sock")
    parser.add_argument("--proto-dir", default=DEFAULT_PROTO_DIR)
    parser.add_argument("--stubs-dir", default=None)
    args = parser.parse_args()

    if args.stubs_dir:
        pb, pb_grpc = load_stubs(os.path.abspath(args.proto_dir), args.stubs_dir)
    else:
        # Once imported the modules live in memory: the folder can go at once, which also
        # leaves nothing behind when the server is killed.
        with tempfile.TemporaryDirectory(prefix="weir-grpc-stubs-") as stubs_dir:
            pb, pb_grpc = load_stubs(os.path.abspath(args.proto_dir), stubs_dir)

    import grpc

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    pb_grpc.add_DispatcherServicer_to_server(make_dispatcher(pb, pb_grpc), server)
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
