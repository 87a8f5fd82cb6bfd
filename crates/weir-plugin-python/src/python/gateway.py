"""Tyk's `gateway` module: `TykGateway` logs through Weir's log and keeps data in Weir's
in-process store (shared by every Python plugin of this gateway process, with TTLs; Tyk's
went to Redis)."""

import sys

import _weir


class TykGateway(object):
    """Gateway services for plugins (class methods, as in Tyk)."""

    @classmethod
    def log(cls, msg, level="info"):
        _weir.log(str(msg), str(level))

    @classmethod
    def log_error(cls, *args):
        kind, value = sys.exc_info()[:2]
        if len(args) == 1:
            text = str(args[0])
        elif not args:
            text = "{0} {1}".format(kind, value)
        else:
            text = "{0} {1} {2}".format(args[0], kind, value)
        _weir.log(text, "error")

    @classmethod
    def store_data(cls, key, value, ttl=0):
        _weir.store_data(str(key), value, int(ttl))

    @classmethod
    def get_data(cls, key):
        return _weir.get_data(str(key))

    @classmethod
    def trigger_event(cls, event_name, payload):
        _weir.log("event {0}: {1}".format(event_name, payload), "info")
