"""Tyk's `tyk.session`: the session a hook gets, with the fields of Tyk's coprocess
`SessionState` (`metadata`, not the REST API's `meta_data`)."""

import json

_DEFAULTS = {
    "last_check": 0, "allowance": 0.0, "rate": 0.0, "per": 0.0, "expires": 0,
    "quota_max": 0, "quota_renews": 0, "quota_remaining": 0, "quota_renewal_rate": 0,
    "access_rights": {}, "org_id": "", "oauth_client_id": "", "oauth_keys": {},
    "basic_auth_data": {}, "jwt_data": {}, "hmac_enabled": False, "hmac_secret": "",
    "is_inactive": False, "apply_policy_id": "", "data_expires": 0, "monitor": {},
    "enable_detailed_recording": False, "metadata": {}, "tags": [], "alias": "",
    "last_updated": "", "id_extractor_deadline": 0, "session_lifetime": 0,
    "apply_policies": [], "certificate": "", "max_query_depth": 0,
}


class SessionState(object):
    """A session: every field of Tyk's SessionState as an attribute."""

    def __init__(self, **fields):
        # Every mutable default is empty: a new one of its type is a copy.
        values = {k: type(v)() if isinstance(v, (dict, list)) else v for k, v in _DEFAULTS.items()}
        values.update(fields)
        self.__dict__.update(values)

    @classmethod
    def _from_json(cls, text):
        if text is None:
            return cls()
        fields = json.loads(text)
        if "meta_data" in fields:
            fields["metadata"] = fields.pop("meta_data") or {}
        return cls(**fields)

    def _snapshot(self):
        return {k: type(v)(v) if isinstance(v, (dict, list)) else v for k, v in vars(self).items()}

    def _to_json(self):
        fields = dict(vars(self))
        fields["meta_data"] = fields.pop("metadata", {})
        return json.dumps(fields, default=str, sort_keys=True)


TykSession = SessionState
