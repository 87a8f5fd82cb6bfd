#!/usr/bin/env python3
"""The vision enricher as a Tyk-coprocess gRPC plugin server, backed by a real database.

Python counterpart of examples/vision/enricher (the native plugin). It serves
`coprocess.Dispatcher`:
  - `Dispatch`, hook `MyInit` (a `pre` hook): a no-op, the Object comes back unchanged
    (as does any other hook name);
  - `DispatchGrpcMessage`, hook `HandleStream`: each DetectionEvent coming from the upstream
    of /vision.VisionService/StreamDetections gets camera_location, camera_status and
    install_date from `CameraRegistry(camera_id, location, status, install_date)`
    (NULL -> ""), and is sent on re-encoded. Unknown cameras, database errors and every other
    message pass unchanged (PASS without payload: the gateway forwards the original bytes).

Configuration is the API's config_data (JSON):
  sql_server_dsn | dsn   sqlite:PATH (read-only), postgres://... (psycopg 3), mysql://... or
                         mariadb://... (PyMySQL)
  cache_ttl_seconds      default 30; a row or a camera's absence is reused that long, so the
                         database sees at most one query per camera per TTL
  table                  default CameraRegistry

Usage:
    enricher.py --listen 127.0.0.1:0 [--proto-dir DIR] [--vision-proto-dir DIR] [--stats]
Prints `LISTENING <address>` on stdout once serving. With --stats, every database query is
reported on stderr as `STATS query backend=<b> camera=<id> result=<row|absent|error> total=<n>`.
"""

import argparse
import importlib.util
import json
import os
import re
import sqlite3
import sys
import tempfile
import threading
import time
from concurrent import futures
from urllib.parse import unquote, urlsplit, parse_qs

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER_PY = os.path.join(HERE, "..", "..", "plugins", "grpc-python", "server.py")
DEFAULT_PROTO_DIR = os.path.join(HERE, "..", "..", "..", "crates", "weir-plugin-grpc", "proto")
DEFAULT_VISION_PROTO_DIR = os.path.join(HERE, "..", "proto")
VISION_METHOD = "/vision.VisionService/StreamDetections"
QUERY_TIMEOUT = 2.0          # seconds: connecting and the query, each
ERROR_RETRY = 1.0            # a camera whose lookup failed is retried at most once a second
STDERR_LOCK = threading.Lock()
LOG_EVERY = 10.0             # database errors are logged at most once per 10 s (per DSN)
CACHE_CAPACITY = 10000
TABLE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")


def load_server_helpers():
    """Imports examples/plugins/grpc-python/server.py (for its stub generator) as a module."""
    spec = importlib.util.spec_from_file_location("weir_grpc_python_server", SERVER_PY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def redact(dsn):
    """The DSN without its password, for log lines."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", dsn)


class Registry:
    """One database (one DSN): a connection per worker thread, opened once and reused, and a
    TTL cache of rows shared by every API that names this DSN."""

    def __init__(self, dsn, table, stats):
        self.dsn = dsn
        self.table = table
        self.stats = stats
        self.backend, self.connect, sql, self.errors = self._driver(dsn)
        self.sql = sql.format(table=table)
        self.local = threading.local()
        self.lock = threading.Lock()
        self.cache = {}          # camera -> (fetched_at, row tuple | None, failed)
        self.flights = {}        # camera -> Lock held by the thread querying it
        self.queries = 0
        self.last_log = 0.0

    # --- drivers -------------------------------------------------------------------------
    def _driver(self, dsn):
        scheme = dsn.split(":", 1)[0].lower()
        if scheme == "sqlite":
            path = dsn[len("sqlite:"):]
            if path.startswith("//"):
                path = path[2:]          # sqlite:///abs/file.db -> /abs/file.db
            path = path.split("?", 1)[0]
            deadline = self.sqlite_deadline = threading.local()

            def connect():
                conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True,
                                       timeout=QUERY_TIMEOUT, check_same_thread=False)
                # Bound each query: the handler aborts it once the deadline has passed.
                conn.set_progress_handler(
                    lambda: 1 if time.monotonic() > getattr(deadline, "t", float("inf")) else 0,
                    1000)
                return conn

            sql = ("SELECT CAST(location AS TEXT), CAST(status AS TEXT), "
                   "CAST(install_date AS TEXT) FROM {table} WHERE camera_id = ?")
            return "sqlite", connect, sql, (sqlite3.Error,)
        if scheme in ("postgres", "postgresql"):
            import psycopg

            def connect():
                return psycopg.connect(dsn, autocommit=True, connect_timeout=int(QUERY_TIMEOUT),
                                       options=f"-c statement_timeout={int(QUERY_TIMEOUT * 1000)}")

            sql = ("SELECT location::text, status::text, install_date::text "
                   "FROM {table} WHERE camera_id = %s")
            return "postgres", connect, sql, (psycopg.Error, OSError)
        if scheme in ("mysql", "mariadb"):
            import pymysql
            url = urlsplit(dsn)
            query = parse_qs(url.query)
            params = dict(host=url.hostname or "127.0.0.1", port=url.port or 3306,
                          user=unquote(url.username or "root"),
                          password=unquote(url.password or ""),
                          database=unquote(url.path.lstrip("/")) or None,
                          connect_timeout=QUERY_TIMEOUT, read_timeout=QUERY_TIMEOUT,
                          write_timeout=QUERY_TIMEOUT, autocommit=True, charset="utf8mb4")
            if "unix_socket" in query:
                params["unix_socket"] = query["unix_socket"][0]

            def connect():
                return pymysql.connect(**params)

            sql = ("SELECT CAST(location AS CHAR), CAST(status AS CHAR), "
                   "CAST(install_date AS CHAR) FROM {table} WHERE camera_id = %s")
            return "mysql", connect, sql, (pymysql.Error, OSError)
        raise ValueError(f"unsupported DSN scheme {scheme!r} (sqlite:, postgres://, mysql://)")

    # --- lookups -------------------------------------------------------------------------
    def _query(self, camera):
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = self.connect()
        if self.backend == "sqlite":
            self.sqlite_deadline.t = time.monotonic() + QUERY_TIMEOUT
        cur = conn.cursor()
        try:
            cur.execute(self.sql, (camera,))
            return cur.fetchone()
        finally:
            cur.close()

    def _drop_connection(self):
        conn = getattr(self.local, "conn", None)
        self.local.conn = None
        if conn is not None:
            try:
                conn.close()
            except Exception:
                pass

    def _fresh(self, camera, ttl, now):
        entry = self.cache.get(camera)
        if entry is None:
            return None
        fetched_at, _row, failed = entry
        if now - fetched_at < (ERROR_RETRY if failed else ttl):
            return entry
        return None

    def lookup(self, camera, ttl):
        """Returns (row or None, failed). At most one query per camera per TTL: concurrent
        misses of one camera wait for the thread that queries it."""
        with self.lock:
            entry = self._fresh(camera, ttl, time.monotonic())
            if entry is not None:
                return entry[1], entry[2]
            flight = self.flights.setdefault(camera, threading.Lock())
        with flight:
            with self.lock:
                entry = self._fresh(camera, ttl, time.monotonic())
                if entry is not None:
                    return entry[1], entry[2]
            row, failed, error = None, False, None
            try:
                row = self._query(camera)
            except self.errors as e:  # also timeouts: each driver raises its own Error
                failed, error = True, e
                self._drop_connection()
            except Exception as e:    # a driver bug must not crash the hook
                failed, error = True, e
                self._drop_connection()
            now = time.monotonic()
            with self.lock:
                self.queries += 1
                total = self.queries
                if len(self.cache) >= CACHE_CAPACITY and camera not in self.cache:
                    self.cache.pop(next(iter(self.cache)))   # oldest inserted
                self.cache[camera] = (now, row, failed)
                self.flights.pop(camera, None)
                log = failed and now - self.last_log >= LOG_EVERY
                if log:
                    self.last_log = now
            if log:
                print(f"enricher: {self.backend} {redact(self.dsn)}: lookup failed "
                      f"({type(error).__name__}: {error}); events pass unenriched "
                      f"(logged at most every {LOG_EVERY:.0f} s)", file=sys.stderr, flush=True)
            if self.stats:
                result = "error" if failed else ("row" if row else "absent")
                # One write per line: print() writes the text and the newline separately,
                # and lines from worker threads then run together.
                line = (f"STATS query backend={self.backend} camera={camera} result={result} "
                        f"total={total}\n")
                with STDERR_LOCK:
                    sys.stderr.write(line)
                    sys.stderr.flush()
            return row, failed


class Enricher:
    def __init__(self, pb, vision, stats):
        self.pb, self.vision, self.stats = pb, vision, stats
        self.registries = {}
        self.configs = {}        # config_data text -> parsed (dsn, table, ttl) or error text
        self.lock = threading.Lock()
        self.last_config_log = {}

    def _log_config(self, text, message):
        now = time.monotonic()
        with self.lock:
            if now - self.last_config_log.get(text, -LOG_EVERY) < LOG_EVERY:
                return
            self.last_config_log[text] = now
        print(f"enricher: bad config_data: {message}; events pass unenriched",
              file=sys.stderr, flush=True)

    def _config(self, text):
        with self.lock:
            if text in self.configs:
                return self.configs[text]
        try:
            config = json.loads(text) if text else {}
            if not isinstance(config, dict):
                raise ValueError("config_data must be a JSON object")
            dsn = config.get("sql_server_dsn") or config.get("dsn")
            if not isinstance(dsn, str) or not dsn:
                raise ValueError("config key `sql_server_dsn` (or `dsn`) is required")
            ttl = config.get("cache_ttl_seconds", 30)
            if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not ttl > 0:
                raise ValueError("config key `cache_ttl_seconds` must be a number more than 0")
            table = config.get("table", "CameraRegistry")
            if not isinstance(table, str) or not TABLE_RE.match(table):
                raise ValueError("config key `table` must be a table name (schema.table)")
            key = (dsn, table)
            with self.lock:
                registry = self.registries.get(key)
                if registry is None:
                    registry = self.registries[key] = Registry(dsn, table, self.stats)
            parsed = (registry, float(ttl))
        except (ValueError, ImportError) as e:
            parsed = str(e)
        with self.lock:
            self.configs[text] = parsed
        return parsed

    def handle_stream(self, msg):
        pb, vision = self.pb, self.vision
        unchanged = pb.GrpcMessageReply(action=pb.MESSAGE_ACTION_PASS)
        if (msg.method != VISION_METHOD
                or msg.direction != pb.MESSAGE_DIRECTION_FROM_UPSTREAM):
            return unchanged
        event = vision.DetectionEvent()
        try:
            event.ParseFromString(msg.payload)
        except Exception:
            return unchanged
        if not event.camera_id:
            return unchanged
        config = self._config(msg.config_data)
        if isinstance(config, str):
            self._log_config(msg.config_data, config)
            return unchanged
        registry, ttl = config
        row, failed = registry.lookup(event.camera_id, ttl)
        if failed or row is None:
            return unchanged
        location, status, install_date = row
        event.camera_location = location or ""
        event.camera_status = status or ""
        event.install_date = install_date or ""
        return pb.GrpcMessageReply(action=pb.MESSAGE_ACTION_PASS,
                                   payload=event.SerializeToString())


def make_dispatcher(pb, pb_grpc, vision, stats):
    enricher = Enricher(pb, vision, stats)
    stream_hooks = {"HandleStream": enricher.handle_stream}

    class Dispatcher(pb_grpc.DispatcherServicer):
        def Dispatch(self, obj, context):
            # MyInit (and any other hook): nothing to do, connections open on first use.
            return obj

        def DispatchEvent(self, event, context):
            return pb.EventReply()

        def DispatchGrpcMessage(self, msg, context):
            hook = stream_hooks.get(msg.hook_name)
            return hook(msg) if hook else pb.GrpcMessageReply(action=pb.MESSAGE_ACTION_PASS)

    return Dispatcher()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", required=True, help="host:port or unix:/path.sock")
    parser.add_argument("--proto-dir", default=DEFAULT_PROTO_DIR)
    parser.add_argument("--vision-proto-dir", default=DEFAULT_VISION_PROTO_DIR)
    parser.add_argument("--workers", type=int, default=8,
                        help="worker threads (each holds its own connection per DSN)")
    parser.add_argument("--stats", action="store_true", help="log each database query on stderr")
    args = parser.parse_args()

    vision_dir = os.path.abspath(args.vision_proto_dir)
    if not os.path.isdir(vision_dir):
        sys.exit(f"enricher.py: no vision proto dir {vision_dir}")
    helpers = load_server_helpers()
    with tempfile.TemporaryDirectory(prefix="weir-enricher-stubs-") as stubs_dir:
        pb, pb_grpc, vision = helpers.load_stubs(os.path.abspath(args.proto_dir), vision_dir,
                                                 stubs_dir)

    import grpc

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=args.workers))
    pb_grpc.add_DispatcherServicer_to_server(make_dispatcher(pb, pb_grpc, vision, args.stats),
                                             server)
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
