"""Tyk's `tyk.request`: the request a hook gets. `request.object` has the fields of Tyk's
coprocess `MiniRequestObject`; changes go through `set_headers`, `delete_headers`,
`add_params`, `delete_params`, `body`/`raw_body`, `url`, `method` and `return_overrides`
(`headers` and `params` are what the client sent, first value of each)."""


class ReturnOverrides(object):
    """How to answer the client instead of the upstream; `response_code` -1 means no override."""

    def __init__(self, d=None):
        d = d or {}
        self.response_code = d.get("response_code", -1)
        self.response_error = d.get("response_error", "")
        self.headers = dict(d.get("headers", {}))
        self.override_error = d.get("override_error", False)
        self.response_body = d.get("response_body", "")


class MiniRequestObject(object):
    """The coprocess request object (field names as in Tyk's protobuf)."""

    def __init__(self, d=None):
        d = d or {}
        raw = bytes(d.get("raw_body", b""))
        self.headers = dict(d.get("headers", {}))
        self.set_headers = {}
        self.delete_headers = []
        self.body = raw.decode("utf-8", "replace")
        self.raw_body = raw
        self.url = d.get("url", "")
        self.params = dict(d.get("params", {}))
        self.add_params = {}
        self.extended_params = {}
        self.delete_params = []
        self.return_overrides = ReturnOverrides(d.get("return_overrides"))
        self.method = d.get("method", "")
        self.request_uri = d.get("request_uri", "")
        self.scheme = d.get("scheme", "")


class TykCoProcessRequest(object):
    """The `request` argument of a hook, with Tyk's helper methods. Unknown attributes read
    through to `request.object`, as Tyk's older wrapper allowed (`request.headers`)."""

    def __init__(self, obj):
        self.object = obj

    def add_header(self, key, value):
        self.object.set_headers[key] = value

    def delete_header(self, key):
        self.object.delete_headers.append(key)

    def add_param(self, key, value):
        self.object.add_params[key] = value

    def delete_param(self, key):
        self.object.delete_params.append(key)

    def get_header(self, key):
        headers = self.object.headers
        if key in headers:
            return headers[key]
        # Tyk looks the name up as written; Weir also finds another spelling of it.
        lower = key.lower()
        for name, value in headers.items():
            if name.lower() == lower:
                return value
        return None

    def __getattr__(self, name):
        if name == "object":
            raise AttributeError(name)
        return getattr(self.object, name)
