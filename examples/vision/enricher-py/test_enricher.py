#!/usr/bin/env python3
"""Tests for enricher.py against SQLite, PostgreSQL and MariaDB.

    target/plugin-venv/bin/python examples/vision/enricher-py/test_enricher.py

Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust) and MariaDB on 127.0.0.1:3306 (root,
no password); override with WEIR_TEST_PG / WEIR_TEST_MYSQL (admin DSNs). Each run creates a
uniquely named database and drops it at the end. Prints "N passed, N failed".
"""

import importlib.util
import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import uuid
from concurrent import futures
from urllib.parse import urlsplit

HERE = os.path.dirname(os.path.abspath(__file__))
ENRICHER = os.path.join(HERE, "enricher.py")
SERVER_PY = os.path.join(HERE, "..", "..", "plugins", "grpc-python", "server.py")
PROTO_DIR = os.path.join(HERE, "..", "..", "..", "crates", "weir-plugin-grpc", "proto")
VISION_PROTO_DIR = os.path.join(HERE, "..", "proto")
METHOD = "/vision.VisionService/StreamDetections"
PG_ADMIN = os.environ.get("WEIR_TEST_PG", "postgres://postgres@127.0.0.1:5432/postgres")
MYSQL_ADMIN = os.environ.get("WEIR_TEST_MYSQL", "mysql://root@127.0.0.1:3306/")

ROWS = [
    ("cam-1", "Assembly line 1", "active", "2023-04-01"),
    ("cam-2", None, "maintenance", None),          # NULLs -> empty fields
    ("bulk-1", "Dock A", "active", "2022-01-02"),
    ("bulk-2", "Dock B", "offline", "2021-05-06"),
    ("ttl-cam", "Before", "active", "2020-01-01"),
]
DDL = ("CREATE TABLE CameraRegistry (camera_id VARCHAR(64) PRIMARY KEY, location VARCHAR(200), "
       "status VARCHAR(50), install_date DATE)")

pb = pb_grpc = vision = None


def load_stubs():
    global pb, pb_grpc, vision
    spec = importlib.util.spec_from_file_location("weir_grpc_python_server", SERVER_PY)
    helpers = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(helpers)
    with tempfile.TemporaryDirectory(prefix="weir-enricher-test-stubs-") as d:
        pb, pb_grpc, vision = helpers.load_stubs(os.path.abspath(PROTO_DIR),
                                                 os.path.abspath(VISION_PROTO_DIR), d)


class EnricherProcess:
    """enricher.py --stats as a child process; collects its stderr lines."""

    def __init__(self):
        import grpc
        self.proc = subprocess.Popen(
            [sys.executable, ENRICHER, "--listen", "127.0.0.1:0", "--stats"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tempfile.gettempdir())
        line = self.proc.stdout.readline()
        if not line.startswith("LISTENING "):
            self.proc.kill()
            raise RuntimeError(f"enricher.py did not start: {line!r} {self.proc.stderr.read()}")
        self.address = line.split()[1]
        self.lines = []
        self.lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()
        self.channel = grpc.insecure_channel(self.address)
        self.stub = pb_grpc.DispatcherStub(self.channel)

    def _read(self):
        for line in self.proc.stderr:
            with self.lock:
                self.lines.append(line.rstrip("\n"))

    def queries(self, backend, camera):
        time.sleep(0.05)   # stderr is flushed before the reply, but the reader may lag
        pattern = re.compile(rf"^STATS query backend={backend} camera={re.escape(camera)} ")
        with self.lock:
            return sum(1 for l in self.lines if pattern.match(l))

    def stderr(self):
        with self.lock:
            return "\n".join(self.lines)

    def close(self):
        self.channel.close()
        self.proc.kill()
        self.proc.wait()


def event(camera, **fields):
    return vision.DetectionEvent(
        camera_id=camera, timestamp_ms=1700000000123,
        objects=[vision.DetectedObject(label="person", confidence=0.9,
                                       box=vision.BoundingBox(x_min=1, y_min=2, x_max=3, y_max=4))],
        **fields)


class Base:
    """Tests every backend runs; subclasses give `backend` and make the database."""
    backend = None
    setup_error = None

    @classmethod
    def setUpClass(cls):
        cls.server = EnricherProcess()
        try:
            cls.dsn = cls.create_db()
        except Exception as e:
            cls.setup_error = e

    @classmethod
    def tearDownClass(cls):
        cls.server.close()
        if cls.setup_error is None:
            cls.drop_db()

    def setUp(self):
        if self.setup_error is not None:
            self.fail(f"{self.backend} unreachable ({self.setup_error}): start it")

    def send(self, payload, config=None, direction=None, method=METHOD, hook="HandleStream"):
        config = {"sql_server_dsn": self.dsn} if config is None else config
        msg = pb.GrpcMessage(
            hook_name=hook, method=method, payload=payload,
            direction=direction or pb.MESSAGE_DIRECTION_FROM_UPSTREAM,
            config_data=json.dumps(config), api_id="vision", org_id="org")
        return self.server.stub.DispatchGrpcMessage(msg, timeout=10)

    def enriched(self, reply):
        self.assertEqual(reply.action, pb.MESSAGE_ACTION_PASS)
        self.assertTrue(reply.HasField("payload"), "expected a replacement payload")
        return vision.DetectionEvent.FromString(reply.payload)

    def test_enrichment(self):
        out = self.enriched(self.send(event("cam-1").SerializeToString()))
        self.assertEqual((out.camera_location, out.camera_status, out.install_date),
                         ("Assembly line 1", "active", "2023-04-01"))
        self.assertEqual(out.timestamp_ms, 1700000000123)
        self.assertEqual(out.objects[0].label, "person")
        self.assertEqual(out.objects[0].box.x_max, 3)

    def test_dsn_key(self):
        out = self.enriched(self.send(event("cam-1").SerializeToString(),
                                      config={"dsn": self.dsn, "cache_ttl_seconds": 5}))
        self.assertEqual(out.camera_location, "Assembly line 1")

    def test_nulls_become_empty(self):
        sent = event("cam-2", camera_location="from upstream", install_date="x")
        out = self.enriched(self.send(sent.SerializeToString()))
        self.assertEqual((out.camera_location, out.camera_status, out.install_date),
                         ("", "maintenance", ""))

    def test_unknown_camera_passes_without_payload(self):
        reply = self.send(event("nope-" + self.backend).SerializeToString())
        self.assertEqual(reply.action, pb.MESSAGE_ACTION_PASS)
        self.assertFalse(reply.HasField("payload"))

    def test_200_messages_one_query_per_camera(self):
        cameras = ["bulk-1", "bulk-2", "bulk-missing"]
        payloads = [event(cameras[i % 3]).SerializeToString() for i in range(200)]
        with futures.ThreadPoolExecutor(8) as pool:
            replies = list(pool.map(self.send, payloads))
        for i, reply in enumerate(replies):
            if cameras[i % 3] == "bulk-missing":
                self.assertFalse(reply.HasField("payload"))
            else:
                self.assertIn(self.enriched(reply).camera_location, ("Dock A", "Dock B"))
        for camera in cameras:
            self.assertEqual(self.server.queries(self.backend, camera), 1,
                             f"queries for {camera}:\n{self.server.stderr()}")

    def test_ttl_expiry_shows_changed_row(self):
        config = {"sql_server_dsn": self.dsn, "cache_ttl_seconds": 0.5}
        payload = event("ttl-cam").SerializeToString()
        self.assertEqual(self.enriched(self.send(payload, config)).camera_location, "Before")
        self.execute("UPDATE CameraRegistry SET location = 'After' WHERE camera_id = 'ttl-cam'")
        self.assertEqual(self.enriched(self.send(payload, config)).camera_location, "Before")
        self.assertEqual(self.server.queries(self.backend, "ttl-cam"), 1)
        time.sleep(0.7)
        self.assertEqual(self.enriched(self.send(payload, config)).camera_location, "After")
        self.assertEqual(self.server.queries(self.backend, "ttl-cam"), 2)


class SqliteTest(Base, unittest.TestCase):
    backend = "sqlite"

    @classmethod
    def create_db(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="weir-enricher-test-")
        cls.path = os.path.join(cls.tmp.name, "registry.db")
        with sqlite3.connect(cls.path) as conn:
            conn.execute(DDL)
            conn.executemany("INSERT INTO CameraRegistry VALUES (?, ?, ?, ?)", ROWS)
        return f"sqlite:{cls.path}"

    @classmethod
    def drop_db(cls):
        cls.tmp.cleanup()

    def execute(self, sql):
        with sqlite3.connect(self.path) as conn:
            conn.execute(sql)

    def test_myinit_returns_object_unchanged(self):
        obj = pb.Object(hook_type=pb.Pre, hook_name="MyInit",
                        request=pb.MiniRequestObject(method="GET", url="/x",
                                                     headers={"A": "b"}))
        self.assertEqual(self.server.stub.Dispatch(obj, timeout=10), obj)

    def test_other_messages_pass_without_payload(self):
        request = vision.DetectionRequest(camera_id="cam-1").SerializeToString()
        for reply in [
            self.send(request, direction=pb.MESSAGE_DIRECTION_TO_UPSTREAM),
            self.send(event("cam-1").SerializeToString(), method="/other.Svc/Method"),
            self.send(event("cam-1").SerializeToString(), hook="OtherHook"),
            self.send(b"\xff\xff\xff"),                        # undecodable
            self.send(event("cam-1").SerializeToString(), config={}),   # no DSN
        ]:
            self.assertEqual(reply.action, pb.MESSAGE_ACTION_PASS)
            self.assertFalse(reply.HasField("payload"))

    def test_db_error_passes_unenriched_and_logs_once(self):
        config = {"dsn": f"sqlite:{self.tmp.name}/missing.db"}
        for _ in range(3):
            reply = self.send(event("cam-1").SerializeToString(), config)
            self.assertEqual(reply.action, pb.MESSAGE_ACTION_PASS)
            self.assertFalse(reply.HasField("payload"))
        time.sleep(0.05)
        self.assertEqual(self.server.stderr().count("lookup failed"), 1, self.server.stderr())


class PostgresTest(Base, unittest.TestCase):
    backend = "postgres"

    @classmethod
    def create_db(cls):
        import psycopg
        cls.name = f"weir_enricher_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3) as admin:
            admin.execute(f"CREATE DATABASE {cls.name}")
        url = urlsplit(PG_ADMIN)
        dsn = url._replace(path="/" + cls.name).geturl()
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(DDL)
            conn.cursor().executemany("INSERT INTO CameraRegistry VALUES (%s, %s, %s, %s)", ROWS)
        return dsn

    @classmethod
    def drop_db(cls):
        import psycopg
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {cls.name} WITH (FORCE)")

    def execute(self, sql):
        import psycopg
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute(sql)


class MariaDbTest(Base, unittest.TestCase):
    backend = "mysql"

    @classmethod
    def admin(cls, database=None):
        import pymysql
        url = urlsplit(MYSQL_ADMIN)
        return pymysql.connect(host=url.hostname or "127.0.0.1", port=url.port or 3306,
                               user=url.username or "root", password=url.password or "",
                               database=database, autocommit=True, connect_timeout=3)

    @classmethod
    def create_db(cls):
        cls.name = f"weir_enricher_test_{uuid.uuid4().hex[:12]}"
        with cls.admin() as conn, conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE {cls.name}")
        with cls.admin(cls.name) as conn, conn.cursor() as cur:
            cur.execute(DDL)
            cur.executemany("INSERT INTO CameraRegistry VALUES (%s, %s, %s, %s)", ROWS)
        return urlsplit(MYSQL_ADMIN)._replace(path="/" + cls.name).geturl()

    @classmethod
    def drop_db(cls):
        with cls.admin() as conn, conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {cls.name}")

    def execute(self, sql):
        with self.admin(self.name) as conn, conn.cursor() as cur:
            cur.execute(sql)


def main():
    load_stubs()
    suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules[__name__])
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    failed = len(result.failures) + len(result.errors)
    passed = result.testsRun - failed - len(result.skipped)
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed or not result.wasSuccessful() else 0)


if __name__ == "__main__":
    main()
