#!/usr/bin/env python3
"""End-to-end tests of processor.py: a real subprocess, a real gRPC client, real OpenCV.

Run with the venv that scripts/setup-vision-python.sh makes, from any directory:

    target/vision-venv/bin/python examples/vision/processor-py/test_processor.py

The last line is "N passed, N failed"; the exit code is non-zero on any failure.
"""

import os
import queue
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROCESSOR = HERE / "processor.py"
sys.path.insert(0, str(HERE))

try:
    import cv2
    import grpc

    import processor
except ImportError as exc:  # a clear hint beats a bare traceback on the wrong interpreter
    print(f"test_processor: {exc}; run scripts/setup-vision-python.sh and use "
          "target/vision-venv/bin/python", file=sys.stderr)
    print("0 passed, 1 failed")
    sys.exit(1)

PB2, PB2_GRPC = processor.load_stubs()
LABELS = {"ball", "box", "person", "vehicle", "object"}
FPS = 30
# Generous: the machine is small and shared, and the first run generates the video.
START_TIMEOUT = 90.0


class Proc:
    """processor.py as a subprocess, with its stdout/stderr drained by threads so that neither
    pipe can fill up and block it."""

    def __init__(self, *args):
        self.p = subprocess.Popen(
            [sys.executable, "-u", str(PROCESSOR), "--listen", "127.0.0.1:0", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.stdout = queue.Queue()
        self.err_lines = []
        self.err_lock = threading.Lock()
        self.pumps = [threading.Thread(target=self._pump_out, daemon=True),
                      threading.Thread(target=self._pump_err, daemon=True)]
        for t in self.pumps:
            t.start()

    def _pump_out(self):
        for line in self.p.stdout:
            self.stdout.put(line.rstrip("\n"))

    def _pump_err(self):
        for line in self.p.stderr:
            with self.err_lock:
                self.err_lines.append(line.rstrip("\n"))

    def stderr(self):
        with self.err_lock:
            return "\n".join(self.err_lines)

    def first_line(self, timeout):
        try:
            return self.stdout.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no LISTENING line in {timeout}s; stderr:\n{self.stderr()}")

    def wait_stderr(self, needle, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.stderr():
                return True
            time.sleep(0.05)
        return False

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        # The pumps end at EOF once the process is gone; then the pipes can be closed.
        for t in self.pumps:
            t.join(5)
        self.p.stdout.close()
        self.p.stderr.close()
        return self.p.returncode


def connect(line):
    m = re.fullmatch(r"LISTENING 127\.0\.0\.1:(\d+)", line)
    if not m:
        raise AssertionError(f"first stdout line is {line!r}, want 'LISTENING 127.0.0.1:<port>'")
    channel = grpc.insecure_channel(f"127.0.0.1:{m.group(1)}")
    grpc.channel_ready_future(channel).result(timeout=10)
    return channel, PB2_GRPC.VisionServiceStub(channel), int(m.group(1))


def collect(stub, camera, count, timeout):
    """Up to `count` events of `camera` within `timeout` s, each with its local arrival time."""
    call = stub.StreamDetections(PB2.DetectionRequest(camera_id=camera), timeout=timeout + 5)
    events, start = [], time.monotonic()
    try:
        for ev in call:
            events.append((time.monotonic() - start, ev))
            if len(events) >= count or time.monotonic() - start > timeout:
                break
    finally:
        call.cancel()
    return events


class ProcessorTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="vision-py-test-")
        # A fresh path, so the run also covers generating the video on first start.
        cls.video = Path(cls.tmp.name) / "factory.avi"
        cls.proc = Proc("--video", str(cls.video), "--fps", str(FPS), "--cameras", "4")
        t0 = time.monotonic()
        cls.line = cls.proc.first_line(START_TIMEOUT)
        cls.startup_s = time.monotonic() - t0
        cls.channel, cls.stub, cls.port = connect(cls.line)

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        cls.proc.stop()
        cls.tmp.cleanup()

    def test_listening_line(self):
        self.assertRegex(self.line, r"^LISTENING 127\.0\.0\.1:\d+$")
        self.assertNotEqual(self.port, 0)
        print(f"\n  start-up incl. video generation: {self.startup_s:.1f}s", file=sys.stderr)

    def test_generated_video(self):
        self.assertTrue(self.video.is_file(), "video was not generated")
        cap = cv2.VideoCapture(str(self.video))
        try:
            self.assertTrue(cap.isOpened())
            self.assertGreaterEqual(int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), 200)
            ok, frame = cap.read()
            self.assertTrue(ok)
            self.assertEqual(frame.shape, (240, 320, 3))
        finally:
            cap.release()

    def test_cam01_stream(self):
        events = collect(self.stub, "cam-01", 60, 10.0)
        self.assertGreaterEqual(len(events), 15, "fewer than 15 events in 10 s")
        t15 = events[14][0]
        self.assertLess(t15, 10.0)
        stamps = [ev.timestamp_ms for _, ev in events]
        span_s = (stamps[-1] - stamps[0]) / 1000.0
        rate = (len(stamps) - 1) / span_s if span_s > 0 else float("inf")
        print(f"\n  cam-01: {len(events)} events, first after {events[0][0] * 1000:.0f} ms, "
              f"15th after {t15:.2f}s, {rate:.1f} events/s", file=sys.stderr)

        for _, ev in events:
            self.assertEqual(ev.camera_id, "cam-01")
        self.assertTrue(all(b > a for a, b in zip(stamps, stamps[1:])),
                        f"timestamps do not increase: {stamps}")
        now_ms = time.time() * 1000
        self.assertLess(abs(now_ms - stamps[-1]), 5000, "timestamp_ms is not now in ms")
        # Paced, not bursting: well under 1.5x the asked rate.
        self.assertLess(rate, FPS * 1.5)

        for _, ev in events:
            for o in ev.objects:
                b = o.box
                self.assertTrue(0 <= b.x_min <= b.x_max < 320 and 0 <= b.y_min <= b.y_max < 240,
                                f"box outside the 320x240 frame: {b}")
                self.assertIn(o.label, LABELS)
                self.assertTrue(0.0 < o.confidence <= 1.0, o.confidence)

        # The background model is primed before the first event; allow a few frames anyway.
        warm = [ev for _, ev in events[5:]]
        with_objects = sum(1 for ev in warm if ev.objects)
        self.assertGreaterEqual(with_objects, 0.9 * len(warm),
                                f"only {with_objects}/{len(warm)} events have objects")
        # Every frame of the scene has four objects in separate lanes.
        self.assertGreaterEqual(max(len(ev.objects) for ev in warm), 3)

        # Boxes move: some label's box centre travels, and boxes are not all the same.
        centres = {}
        for ev in warm:
            for o in ev.objects:
                c = ((o.box.x_min + o.box.x_max) / 2, (o.box.y_min + o.box.y_max) / 2)
                centres.setdefault(o.label, []).append(c)
        travel = max(max(abs(c[0] - cs[0][0]) + abs(c[1] - cs[0][1]) for c in cs)
                     for cs in centres.values())
        self.assertGreater(travel, 20, f"boxes hardly move ({travel:.0f} px)")
        distinct = {(o.box.x_min, o.box.y_min, o.box.x_max, o.box.y_max)
                    for ev in warm for o in ev.objects}
        self.assertGreater(len(distinct), len(warm))

    def test_unknown_camera_is_not_found(self):
        for camera in ("cam-99", "cam-05", "", "CAM-01"):
            with self.assertRaises(grpc.RpcError) as cm:
                list(self.stub.StreamDetections(PB2.DetectionRequest(camera_id=camera),
                                                timeout=5))
            self.assertEqual(cm.exception.code(), grpc.StatusCode.NOT_FOUND, camera)

    def test_viewers_share_a_camera(self):
        # Two clients of one camera see the same frames (one worker per camera), not two
        # separately processed copies.
        results = [None, None]

        def watch(i):
            results[i] = collect(self.stub, "cam-02", 30, 10.0)

        threads = [threading.Thread(target=watch, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
        a = {ev.timestamp_ms: ev for _, ev in results[0]}
        b = {ev.timestamp_ms: ev for _, ev in results[1]}
        common = set(a) & set(b)
        self.assertGreaterEqual(len(common), 10, "the two viewers saw different frames")
        for ts in common:
            self.assertEqual(a[ts].SerializeToString(), b[ts].SerializeToString())

    def test_cameras_differ(self):
        # Each camera starts at its own point of the video.
        a = collect(self.stub, "cam-03", 10, 10.0)[-1][1]
        b = collect(self.stub, "cam-04", 10, 10.0)[-1][1]
        boxes = lambda ev: sorted((o.label, o.box.x_min, o.box.y_min) for o in ev.objects)
        self.assertNotEqual(boxes(a), boxes(b))

    def test_cancel_is_clean(self):
        events = collect(self.stub, "cam-04", 5, 10.0)  # cancels after 5 events
        self.assertEqual(len(events), 5)
        self.assertTrue(self.proc.wait_stderr("camera cam-04: stopped", 5.0),
                        "camera worker did not stop after its only viewer left")
        # And the camera comes back for the next viewer.
        self.assertGreaterEqual(len(collect(self.stub, "cam-04", 3, 10.0)), 3)
        err = self.proc.stderr()
        self.assertNotIn("Traceback", err)
        self.assertNotIn(" ERROR ", err)
        self.assertIsNone(self.proc.p.poll(), "processor died")

    def test_detector_matches_ground_truth(self):
        # The detector on the generated video against where the generator drew the objects.
        self.assertTrue(self.video.is_file())
        det = processor.Detector(self.video, start_frame=0)
        try:
            hits = misses = extra = right_label = 0
            for i in range(det.n_frames):
                found = det.step()
                truth = processor.scene_objects(i, det.n_frames, det.width, det.height)
                used = set()
                for label, box in truth:
                    best = max(((iou(box, f[2:]), j) for j, f in enumerate(found)
                                if j not in used), default=(0.0, None))
                    if best[0] >= 0.5:
                        hits += 1
                        used.add(best[1])
                        right_label += found[best[1]][0] == label
                    else:
                        misses += 1
                extra += len(found) - len(used)
        finally:
            det.close()
        recall = hits / (hits + misses)
        precision = hits / max(1, hits + extra)
        label_acc = right_label / max(1, hits)
        print(f"\n  detector vs ground truth over {det.n_frames} frames: recall {recall:.3f}, "
              f"precision {precision:.3f}, label accuracy {label_acc:.3f}", file=sys.stderr)
        self.assertGreaterEqual(recall, 0.95)
        self.assertGreaterEqual(precision, 0.95)
        self.assertGreaterEqual(label_acc, 0.9)


def iou(a, b):
    """Intersection over union of two inclusive (x0, y0, x1, y1) boxes."""
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]) + 1)
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]) + 1)
    inter = ix * iy
    area = lambda r: (r[2] - r[0] + 1) * (r[3] - r[1] + 1)
    return inter / float(area(a) + area(b) - inter)


class ShutdownTest(unittest.TestCase):
    def test_sigterm_with_open_stream(self):
        with tempfile.TemporaryDirectory(prefix="vision-py-test-") as tmp:
            proc = Proc("--video", os.path.join(tmp, "short.avi"), "--frames", "60",
                        "--cameras", "1")
            try:
                channel, stub, _ = connect(proc.first_line(START_TIMEOUT))
                call = stub.StreamDetections(PB2.DetectionRequest(camera_id="cam-01"),
                                             timeout=20)
                it = iter(call)
                for _ in range(3):
                    next(it)
                proc.p.send_signal(signal.SIGTERM)
                self.assertEqual(proc.p.wait(10), 0)
                # The open stream ends with a status, not a hang.
                with self.assertRaises(grpc.RpcError) as cm:
                    for _ in it:
                        pass
                self.assertEqual(cm.exception.code(), grpc.StatusCode.UNAVAILABLE)
                channel.close()
                self.assertNotIn("Traceback", proc.stderr())
            finally:
                proc.stop()


def main():
    suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules[__name__])
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    sys.stderr.flush()
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    passed = max(0, result.testsRun - failed - len(result.skipped))
    print(f"{passed} passed, {failed} failed", flush=True)
    return 0 if failed == 0 and result.testsRun > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
