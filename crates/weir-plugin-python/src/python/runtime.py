"""Weir's side of the Python driver: loads plugin files, calls hooks with Tyk's objects and
turns what they return into plain data for the Rust side."""

import importlib.util
import os
import sys
import traceback

from tyk.decorators import Event
from tyk.request import MiniRequestObject, TykCoProcessRequest
from tyk.session import SessionState


class HookTimeout(BaseException):
    """Raised inside a hook that ran past its deadline (a BaseException, so that a plugin's
    `except Exception` does not swallow it)."""


def describe(exc, tb=None):
    """`file:line: Type: message` for an exception, naming the plugin's own frame."""
    if isinstance(exc, SyntaxError):
        return "{0}:{1}: SyntaxError: {2}".format(exc.filename, exc.lineno, exc.msg)
    frames = [f for f in traceback.extract_tb(tb or exc.__traceback__)
              if not f.filename.startswith(("<weir", "<frozen"))]
    where = "{0}:{1}: ".format(frames[-1].filename, frames[-1].lineno) if frames else ""
    return "{0}{1}: {2}".format(where, type(exc).__name__, exc)


def load(name, path, root):
    """Runs a plugin file as module `name`, with its folder (and `vendor/` in it) importable."""
    vendor = os.path.join(root, "vendor")
    for folder in (vendor, root):
        if os.path.isdir(folder) and folder not in sys.path:
            sys.path.insert(0, folder)
    before = set(sys.modules)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[name]
        # A bundle's own helper modules leave the module cache, so another bundle's helper of
        # the same name loads its own file (Tyk's loader cleans up the same way); vendored
        # packages stay cached.
        prefix = root + os.sep
        for mod in set(sys.modules) - before:
            f = getattr(sys.modules[mod], "__file__", None) or ""
            if f.startswith(prefix) and not f.startswith(vendor + os.sep):
                del sys.modules[mod]
    return module


def resolve(module, name):
    """The hook `name` of a module and the number of arguments it takes."""
    value = getattr(module, name, None)
    if value is None:
        raise LookupError("no function `{0}` in the plugin".format(name))
    if isinstance(value, Event):
        raise LookupError("`{0}` is an @Event handler, not a hook".format(name))
    count = getattr(value, "arg_count", None)
    if count is None:
        if not callable(value):
            raise LookupError("`{0}` is not a function".format(name))
        import inspect
        count = len(inspect.signature(value).parameters)
    return value, count


def _texts(d, what):
    if not isinstance(d, dict):
        raise TypeError("{0} must be a dict, not {1}".format(what, type(d).__name__))
    return {str(k): str(v) for k, v in d.items()}


def _list(v, what):
    if isinstance(v, (str, bytes)) or not hasattr(v, "__iter__"):
        raise TypeError("{0} must be a list, not {1}".format(what, type(v).__name__))
    return [str(x) for x in v]


def _unpack(out, defaults):
    if out is None:
        return defaults
    if not isinstance(out, (tuple, list)):
        out = (out,)
    out = tuple(out) + defaults[len(out):]
    return tuple(d if o is None else o for o, d in zip(out, defaults))


def _request_result(req, sent_raw):
    obj = req.object if isinstance(req, TykCoProcessRequest) else req
    if not isinstance(obj, MiniRequestObject):
        raise TypeError("the hook returned a {0} as the request".format(type(req).__name__))
    body = None
    if isinstance(obj.body, str) and obj.body != sent_raw.decode("utf-8", "replace"):
        body = obj.body.encode()
    elif isinstance(obj.body, (bytes, bytearray)) and bytes(obj.body) != sent_raw:
        body = bytes(obj.body)
    elif bytes(obj.raw_body) != sent_raw:
        body = bytes(obj.raw_body)
    o = obj.return_overrides
    return {
        "set_headers": _texts(obj.set_headers, "set_headers"),
        "delete_headers": _list(obj.delete_headers, "delete_headers"),
        "add_params": _texts(obj.add_params, "add_params"),
        "delete_params": _list(obj.delete_params, "delete_params"),
        "body": body,
        "url": str(obj.url),
        "method": str(obj.method),
        "return_overrides": {
            "response_code": int(o.response_code),
            "response_error": str(o.response_error),
            "headers": _texts(o.headers, "return_overrides.headers"),
            "override_error": bool(o.override_error),
            "response_body": str(o.response_body),
        },
    }


class Header(object):
    """One response header with all its values (Tyk's `multivalue_headers` entries)."""

    def __init__(self, key, values):
        self.key = key
        self.values = list(values)


class ResponseObject(object):
    """The upstream's response, with the fields of Tyk's coprocess `ResponseObject`."""

    def __init__(self, d):
        raw = bytes(d["raw_body"])
        self.status_code = d["status_code"]
        self.raw_body = raw
        self.body = raw.decode("utf-8", "replace")
        self.headers = dict(d["headers"])
        self.multivalue_headers = [Header(k, v) for k, v in d["multivalue_headers"]]


def _response_result(resp, sent):
    if not isinstance(resp, ResponseObject):
        raise TypeError("a response hook returned a {0}".format(type(resp).__name__))
    raw = sent["raw_body"]
    body = None
    if bytes(resp.raw_body) != raw:
        body = bytes(resp.raw_body)
    elif resp.body != raw.decode("utf-8", "replace"):
        body = str(resp.body).encode()
    multi = [[str(h.key), [str(v) for v in h.values]] for h in resp.multivalue_headers]
    first = sent["headers"]
    now = _texts(resp.headers, "response.headers")
    # Edits of the one-value `headers` map fold into the multi-value list, which is written.
    for key, value in sorted(now.items()):
        if first.get(key) == value:
            continue
        for entry in multi:
            if entry[0].lower() == key.lower():
                entry[1][:1] = [value]
                break
        else:
            multi.append([key, [value]])
    for key in first:
        if key not in now:
            multi = [e for e in multi if e[0].lower() != key.lower()]
    return {"status_code": int(resp.status_code), "headers": [tuple(e) for e in multi],
            "body": body}


def call(fn, argc, data):
    """Calls a request or response hook on `data` (built by the Rust side)."""
    sent_raw = bytes(data["request"]["raw_body"])
    req = TykCoProcessRequest(MiniRequestObject(data["request"]))
    session = SessionState._from_json(data["session"])
    sent_session = session._snapshot() if data["session"] is None else None
    metadata = dict(data["metadata"])
    spec = dict(data["spec"])
    if argc == 5:
        resp = ResponseObject(data["response"])
        out = fn(req, resp, session, metadata, spec)
        return {"response": _response_result(resp if out is None else out, data["response"])}
    if argc == 4:
        req, session, metadata = _unpack(fn(req, session, metadata, spec),
                                         (req, session, metadata))
    else:
        req, session = _unpack(fn(req, session, spec), (req, session))
    if not isinstance(session, SessionState):
        raise TypeError("the hook returned a {0} as the session".format(type(session).__name__))
    unchanged = sent_session is not None and vars(session) == sent_session and not data["auth"]
    return {
        "request": _request_result(req, sent_raw),
        "session": None if unchanged else session._to_json(),
        "metadata": _texts(metadata, "metadata"),
    }


class GrpcMessage(object):
    """One gRPC message as a stream hook gets it; assign `payload` to replace it."""

    def __init__(self, d):
        self.payload = bytes(d["payload"])
        self.direction = d["direction"]
        self.method = d["method"]
        self.index = d["index"]
        self.headers = dict(d["headers"])


def _field(out, name):
    return out.get(name) if isinstance(out, dict) else getattr(out, name, None)


def message(fn, data):
    """Calls a stream hook: ("pass", payload or None), ("drop",) or ("end", code, text)."""
    msg = GrpcMessage(data)
    session = SessionState._from_json(data["session"])
    out = fn(msg, session, dict(data["spec"]))
    if out is None or out is False:
        return ("drop",)
    if out is True:
        return ("pass", None)
    status = _field(out, "grpc_status")
    if status is not None:
        if not isinstance(status, int) or isinstance(status, bool):
            raise TypeError("grpc_status must be an int")
        return ("end", status, str(_field(out, "grpc_message") or ""))
    payload = _field(out, "payload")
    if payload is None:
        return ("pass", None)
    if hasattr(payload, "SerializeToString"):
        payload = payload.SerializeToString()
    if not isinstance(payload, (bytes, bytearray, memoryview)):
        raise TypeError("message.payload must be bytes, not {0}".format(type(payload).__name__))
    payload = bytes(payload)
    return ("pass", None if payload == data["payload"] else payload)
