"""A helper module of the bundle: the bundle's folder is on sys.path, so it imports."""


def mask(key):
    """The key with all but its last 2 characters hidden, for logs."""
    key = key or ""
    return "*" * max(len(key) - 2, 0) + key[-2:]
