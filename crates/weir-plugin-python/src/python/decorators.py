"""Tyk's `tyk.decorators`: how a plugin marks its hooks. Weir dispatches a hook by the number
of arguments its function takes, as Tyk does: 3 (request, session, spec) for pre, post and
post_key_auth; 4 (request, session, metadata, spec) for auth_check; 5 (request, response,
session, metadata, spec) for response hooks."""

import inspect


def _arg_count(f):
    return len(inspect.getfullargspec(f).args)


class Hook(object):
    """The decorator of current Tyk plugins: any hook type, told apart by its arguments."""

    def __init__(self, f):
        self.f = f
        self.name = f.__name__
        self.arg_count = _arg_count(f)

    def __call__(self, *args):
        return self.f(*args)


class _Fixed(object):
    """Base of Tyk's legacy decorators, each bound to one argument list."""

    arg_count = 3

    def __init__(self, f):
        self.f = f
        self.name = f.__name__

    def __call__(self, *args):
        return self.f(*args)


class Pre(_Fixed):
    """Legacy: a pre hook (request, session, spec)."""


class Post(_Fixed):
    """Legacy: a post hook (request, session, spec)."""


class PostKeyAuth(_Fixed):
    """Legacy: a post_key_auth hook (request, session, spec)."""


class CustomKeyCheck(_Fixed):
    """Legacy: an auth hook (request, session, metadata, spec)."""

    arg_count = 4


class Event(object):
    """An event handler (event, spec). Weir fires no events at plugins; it is accepted so that
    bundles declaring handlers load."""

    def __init__(self, f):
        self.f = f
        self.name = f.__name__
        self.arg_count = 2

    def __call__(self, event, spec):
        return self.f(event, spec)


__all__ = ["Hook", "Pre", "Post", "PostKeyAuth", "CustomKeyCheck", "Event"]
