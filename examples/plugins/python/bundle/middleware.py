"""A Tyk Python plugin bundle, as written for Tyk, run by Weir's embedded Python driver.

Hooks:
  AddHeader (pre)       sets the header named in config_data on the upstream request and
                        counts requests in the gateway store.
  MyAuth (auth_check)   accepts `Authorization: <key>` for the keys in config_data["keys"],
                        with a session of 2 requests per 10 s.
  Stamp (post_key_auth) tells the upstream which plan the key has.
  Brand (response)      adds X-Served-By and upper-cases a text body.
"""

import json

from tyk.decorators import *
from gateway import TykGateway as tyk

import helpers


@Hook
def AddHeader(request, session, spec):
    config = json.loads(spec["config_data"])
    request.add_header(config["header_name"], config["header_value"])
    seen = int(tyk.get_data("example-requests") or "0") + 1
    tyk.store_data("example-requests", str(seen), 60)
    request.add_header("X-Request-Count", str(seen))
    return request, session


@Hook
def MyAuth(request, session, metadata, spec):
    config = json.loads(spec["config_data"])
    key = request.get_header("Authorization")
    plan = config.get("keys", {}).get(key or "")
    if plan is None:
        tyk.log("rejected key {0}".format(helpers.mask(key)), "warning")
        request.object.return_overrides.response_code = 401
        request.object.return_overrides.response_error = "unknown key"
        return request, session, metadata
    session.rate = 2.0
    session.per = 10.0
    session.quota_max = -1
    session.metadata["plan"] = plan
    metadata["token"] = key
    return request, session, metadata


@Hook
def Stamp(request, session, spec):
    request.add_header("X-Plan", session.metadata.get("plan", "none"))
    return request, session


@Hook
def Brand(request, response, session, metadata, spec):
    response.headers["X-Served-By"] = "weir-python"
    if response.headers.get("Content-Type", "").startswith("text/"):
        response.raw_body = response.raw_body.upper()
    return response
