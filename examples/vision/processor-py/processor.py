#!/usr/bin/env python3
"""Vision processor in Python: OpenCV detection streamed over gRPC (grpc.aio).

Serves vision.VisionService/StreamDetections for cameras cam-01..cam-NN. Each camera reads one
video file (looping, each camera starting at a different frame), finds moving objects with
background subtraction and streams one DetectionEvent per frame at --fps.

    python processor.py --listen 127.0.0.1:0 --video /tmp/factory.avi --fps 30 --cameras 4

prints `LISTENING <host:port>` on stdout once it accepts connections. If --video does not exist
it is generated first (synthetic factory floor, MJPG in AVI).
"""

import argparse
import asyncio
import concurrent.futures
import importlib
import logging
import math
import os
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

import cv2
import grpc
import numpy as np

HERE = Path(__file__).resolve().parent
DEFAULT_PROTO = HERE.parent / "proto" / "vision.proto"
# Generated media is a build artefact: keep it under the repo's target/, never in the sources.
DEFAULT_VIDEO = HERE.parents[2] / "target" / "vision-assets" / "factory.avi"

log = logging.getLogger("processor")


# --------------------------------------------------------------------------------------------
# Stubs: generated from the .proto at start-up, so nothing generated is committed.


def load_stubs(proto_path=DEFAULT_PROTO):
    """Runs grpc_tools.protoc on `proto_path` into a temp dir; returns (vision_pb2, vision_pb2_grpc)."""
    from grpc_tools import protoc

    proto_path = Path(proto_path).resolve()
    # protoc needs the well-known types' include dir even if this proto imports none of them.
    wkt = Path(protoc.__file__).resolve().parent / "_proto"
    with tempfile.TemporaryDirectory(prefix="vision-stubs-") as out:
        rc = protoc.main([
            "grpc_tools.protoc",
            f"-I{proto_path.parent}",
            f"-I{wkt}",
            f"--python_out={out}",
            f"--grpc_python_out={out}",
            str(proto_path),
        ])
        if rc != 0:
            raise RuntimeError(f"protoc failed ({rc}) on {proto_path}")
        stem = proto_path.stem
        sys.path.insert(0, out)
        try:
            pb2 = importlib.import_module(f"{stem}_pb2")
            pb2_grpc = importlib.import_module(f"{stem}_pb2_grpc")
        finally:
            # Modules stay loaded after the dir is gone; the path entry would only dangle.
            sys.path.remove(out)
    return pb2, pb2_grpc


# --------------------------------------------------------------------------------------------
# Synthetic video: a factory floor seen by a fixed camera, objects crossing in separate lanes.


def _tri(t, period, lo, hi, phase=0.0):
    """Triangle wave: constant speed between lo and hi. Constant speed (unlike a sine) means no
    object lingers long enough at a turning point to be learned into the background."""
    f = (t / period + phase) % 1.0
    v = 2.0 * f if f < 0.5 else 2.0 - 2.0 * f
    return lo + (hi - lo) * v


# (label, shape, width, height, BGR colour) at the nominal 640x480; sizes scale with the frame.
_OBJECTS = [
    ("ball", "disc", 52, 52, (0, 140, 255)),
    ("box", "rect", 48, 48, (200, 180, 40)),
    ("person", "rect", 32, 84, (60, 200, 60)),
    ("vehicle", "rect", 150, 66, (50, 50, 210)),
]


def scene_objects(frame_index, n_frames, width=640, height=480):
    """Ground truth for frame `frame_index`: [(label, (x_min, y_min, x_max, y_max))], inclusive.

    Every period divides n_frames, so the last frame leads smoothly into the first and a looping
    camera never sees a jump (which the background model would report as motion everywhere).
    """
    sx, sy = width / 640.0, height / 480.0
    t, n = frame_index, float(n_frames)
    centres = [
        (_tri(t, n / 2, 40, 600), 70 + _tri(t, n / 4, -10, 10)),                  # ball
        (_tri(t, n / 3, 40, 600, 0.3), 165 + _tri(t, n / 6, -8, 8)),              # box
        (_tri(t, n, 30, 610, 0.6), 280 + _tri(t, n / 5, -12, 12)),                # person
        (_tri(t, n / 2, 90, 550, 0.5), 410),                                      # vehicle
    ]
    out = []
    for (label, _shape, w, h, _c), (cx, cy) in zip(_OBJECTS, centres):
        w, h = max(4, round(w * sx)), max(4, round(h * sy))
        x0, y0 = round(cx * sx - w / 2), round(cy * sy - h / 2)
        out.append((label, (x0, y0, x0 + w - 1, y0 + h - 1)))
    return out


def _object_sprites(width, height, rng):
    """One textured sprite and mask per object. Texture moves with the object so its interior
    keeps changing under the camera, as a real object's would."""
    sx, sy = width / 640.0, height / 480.0
    sprites = []
    for label, shape, w, h, colour in _OBJECTS:
        w, h = max(4, round(w * sx)), max(4, round(h * sy))
        yy, xx = np.mgrid[0:h, 0:w]
        stripes = 25.0 * np.sin((xx + yy) * 0.6)[..., None]
        noise = rng.normal(0.0, 14.0, (h, w, 3))
        img = np.clip(np.array(colour, np.float32) + stripes + noise, 0, 255).astype(np.uint8)
        mask = np.zeros((h, w), np.uint8)
        if shape == "disc":
            cv2.ellipse(mask, (w // 2, h // 2), (w // 2, h // 2), 0, 0, 360, 255, -1)
        else:
            mask[:] = 255
        sprites.append((label, img, mask))
    return sprites


def _floor(width, height, rng):
    """Static background: lit concrete with tile seams, stains and two machines."""
    grad = np.linspace(80, 140, height, dtype=np.float32)[:, None]
    floor = np.repeat(grad, width, axis=1)
    floor += cv2.GaussianBlur(rng.normal(0, 12, (height, width)).astype(np.float32), (0, 0), 2)
    floor = np.dstack([floor * 0.95, floor, floor * 1.05])
    step = max(8, width // 8)
    for x in range(0, width, step):
        cv2.line(floor, (x, 0), (x, height - 1), (55, 55, 60), 2)
    for y in range(0, height, step):
        cv2.line(floor, (0, y), (width - 1, y), (55, 55, 60), 2)
    cv2.rectangle(floor, (int(width * 0.02), int(height * 0.85)),
                  (int(width * 0.1), int(height * 0.98)), (40, 60, 70), -1)
    cv2.rectangle(floor, (int(width * 0.9), int(height * 0.02)),
                  (int(width * 0.98), int(height * 0.12)), (70, 50, 40), -1)
    return floor


def render_frame(frame_index, n_frames, floor, sprites, rng):
    height, width = floor.shape[:2]
    frame = floor.copy()
    for (label, img, mask), (_l, (x0, y0, _x1, _y1)) in zip(
            sprites, scene_objects(frame_index, n_frames, width, height)):
        h, w = mask.shape
        # Clip the sprite to the frame (objects may touch the edges).
        fx0, fy0, fx1, fy1 = max(x0, 0), max(y0, 0), min(x0 + w, width), min(y0 + h, height)
        if fx0 >= fx1 or fy0 >= fy1:
            continue
        sub = (slice(fy0 - y0, fy1 - y0), slice(fx0 - x0, fx1 - x0))
        m = mask[sub] > 0
        region = frame[fy0:fy1, fx0:fx1]
        region[m] = img[sub][m]
    # Sensor noise and a slow flicker: what the background model must learn to ignore.
    frame += rng.standard_normal(frame.shape, dtype=np.float32) * 4.0
    frame += 3.0 * math.sin(2 * math.pi * frame_index / 47.0)
    return np.clip(frame, 0, 255).astype(np.uint8)


def generate_video(path, n_frames=300, width=320, height=240, fps=30, seed=7):
    """Writes the synthetic video to `path` (MJPG/AVI: the codec the headless wheel always has).
    Writes to a temp name and renames, so a concurrent reader never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.avi")
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write MJPG video to {tmp}")
    try:
        rng = np.random.default_rng(seed)
        floor = _floor(width, height, rng)
        sprites = _object_sprites(width, height, rng)
        for i in range(n_frames):
            writer.write(render_frame(i, n_frames, floor, sprites, rng))
    finally:
        writer.release()
    os.replace(tmp, path)


# --------------------------------------------------------------------------------------------
# Detection: background subtraction -> threshold -> morphology -> connected components.

# Below this share of the frame a blob is sensor noise; above MAX it is a lighting change or a
# model still warming up, not an object.
MIN_AREA_FRACTION = 0.0004
MAX_AREA_FRACTION = 0.4


def classify(w, h, area, corner_fill, frame_scale):
    """Label and confidence from the blob's shape and size.

    `corner_fill` is the share of set pixels in the four corners of the box (each a sixth of
    the shorter side): ~1 for a rectangle, low for a disc, whose corners are empty even when
    compression and morphology blur its outline. `frame_scale` is the frame's shorter side / 480,
    so sizes mean the same at any resolution.
    """
    if w <= 0 or h <= 0 or area <= 0:
        return "object", 0.0
    fill = area / float(w * h)
    aspect = w / float(h)
    size = math.sqrt(area) / max(frame_scale, 1e-6)   # ~side length at 480 px

    def near(value, target, tolerance):
        return max(0.0, 1.0 - abs(value - target) / tolerance)

    round_score = near(corner_fill, 0.15, 0.6) * near(fill, math.pi / 4, 0.25) * near(aspect, 1.0, 0.4)
    rect_score = near(corner_fill, 1.0, 0.6) * near(fill, 1.0, 0.3)
    scores = {
        "ball": round_score * near(size, 46, 30),
        "box": rect_score * near(aspect, 1.0, 0.5) * near(size, 48, 30),
        "person": rect_score * near(math.log(aspect), math.log(32 / 84), 0.5),
        "vehicle": rect_score * near(math.log(aspect), math.log(150 / 66), 0.5),
    }
    label, score = max(scores.items(), key=lambda kv: kv[1])
    if score < 0.3:
        # Merged or partly hidden objects match no class well.
        return "object", round(0.3 + 0.3 * fill, 3)
    return label, round(0.5 + 0.49 * score, 3)


class Detector:
    """One camera's video source and background model. Not thread-safe by itself: every call
    takes `lock`, so a close() racing a step() on the executor waits for it."""

    def __init__(self, video_path, start_frame=0, warmup_frames=60):
        self.lock = threading.Lock()
        self.cap = cv2.VideoCapture(str(video_path))
        if not self.cap.isOpened():
            raise RuntimeError(f"cannot open video {video_path}")
        self.n_frames = max(1, int(self.cap.get(cv2.CAP_PROP_FRAME_COUNT)))
        self.width = int(self.cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        self.height = int(self.cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        area = self.width * self.height
        self.min_area = max(16, int(area * MIN_AREA_FRACTION))
        self.max_area = int(area * MAX_AREA_FRACTION)
        self.scale = min(self.width, self.height) / 480.0
        # Long history + no shadow detection: shadows are not drawn, and a long history keeps
        # objects that pass slowly from being absorbed into the background.
        self.bg = cv2.createBackgroundSubtractorMOG2(history=500, varThreshold=25,
                                                     detectShadows=False)
        # By default MOG2 calls background whatever makes up the top 90% of a pixel's history,
        # so objects that keep crossing one lane (the long vehicle covers its lane's pixels
        # ~27% of the time) are learned in and fall apart. At 0.5 the background is what is
        # there at least half of the time; measured: 0 misses in 2400 objects vs 17 at 0.6.
        self.bg.setBackgroundRatio(0.5)
        self.open_k = cv2.getStructuringElement(cv2.MORPH_RECT, (3, 3))
        self.close_k = cv2.getStructuringElement(cv2.MORPH_RECT, (7, 7))
        # Prime the model on the frames just before this camera's start, so its first events
        # already show objects instead of ghosts of where they stood in frame one.
        warmup = min(warmup_frames, self.n_frames - 1)
        self.cap.set(cv2.CAP_PROP_POS_FRAMES, (start_frame - warmup) % self.n_frames)
        for _ in range(warmup):
            self.bg.apply(self._read())
        self.cap.set(cv2.CAP_PROP_POS_FRAMES, start_frame % self.n_frames)

    def _read(self):
        ok, frame = self.cap.read()
        if not ok:
            # End of file: loop, as a camera never ends.
            self.cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, frame = self.cap.read()
            if not ok:
                raise RuntimeError("video source returned no frame")
        return frame

    def detect(self, frame):
        """[(label, confidence, x_min, y_min, x_max, y_max)] for one BGR frame; inclusive box."""
        fg = self.bg.apply(frame)
        _, fg = cv2.threshold(fg, 200, 255, cv2.THRESH_BINARY)
        fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, self.open_k)    # drop noise specks
        fg = cv2.morphologyEx(fg, cv2.MORPH_CLOSE, self.close_k)  # fill holes in objects
        n, labels, stats, _centroids = cv2.connectedComponentsWithStats(fg, connectivity=8)
        found = []
        for i in range(1, n):  # 0 is the background component
            x, y, w, h, area = (int(v) for v in stats[i])
            if area < self.min_area or area > self.max_area:
                continue
            k = max(1, min(w, h) // 6)
            blob = labels[y:y + h, x:x + w] == i
            corners = (blob[:k, :k].mean() + blob[:k, -k:].mean()
                       + blob[-k:, :k].mean() + blob[-k:, -k:].mean()) / 4.0
            label, conf = classify(w, h, area, float(corners), self.scale)
            found.append((label, conf, x, y, x + w - 1, y + h - 1))
        return found

    def step(self):
        with self.lock:
            if self.cap is None:
                raise RuntimeError("detector closed")
            return self.detect(self._read())

    def close(self):
        with self.lock:
            if self.cap is not None:
                self.cap.release()
                self.cap = None


# --------------------------------------------------------------------------------------------
# gRPC service. One worker per camera, shared by all its viewers: a camera is processed once
# however many clients watch it, and only while at least one does.


# Sent to viewers instead of an event when the processor stops.
SHUTTING_DOWN = object()


class CameraWorker:
    QUEUE_DEPTH = 4  # a slow viewer loses its oldest events rather than delaying the others

    def __init__(self, camera_id, start_frame, video_path, fps, executor, pb2):
        self.camera_id = camera_id
        self.start_frame = start_frame
        self.video_path = video_path
        self.period = 1.0 / fps
        self.executor = executor
        self.pb2 = pb2
        self.viewers = set()
        self.task = None
        self.closed = False

    def subscribe(self):
        """A queue of events for a new viewer, or None once the processor is shutting down."""
        if self.closed:
            return None
        q = asyncio.Queue(self.QUEUE_DEPTH)
        self.viewers.add(q)
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._run())
        return q

    def unsubscribe(self, q):
        self.viewers.discard(q)
        if not self.viewers and self.task is not None:
            self.task.cancel()
            self.task = None

    async def close(self):
        """Ends every viewer's stream with a status and stops the worker. Used at shutdown, so
        streams end cleanly instead of being cancelled by the server's grace timeout."""
        self.closed = True
        self._publish(SHUTTING_DOWN)
        task, self.task = self.task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    def _publish(self, item):
        for q in self.viewers:
            if q.full():
                q.get_nowait()
            q.put_nowait(item)

    async def _run(self):
        loop = asyncio.get_running_loop()
        detector = None
        log.info("camera %s: started", self.camera_id)
        try:
            detector = await loop.run_in_executor(
                self.executor, Detector, self.video_path, self.start_frame)
            deadline = loop.time()
            while True:
                # OpenCV releases the GIL, so this runs truly in parallel with the event loop.
                found = await loop.run_in_executor(self.executor, detector.step)
                event = self.pb2.DetectionEvent(
                    camera_id=self.camera_id,
                    timestamp_ms=time.time_ns() // 1_000_000,
                    objects=[
                        self.pb2.DetectedObject(
                            label=label, confidence=conf,
                            box=self.pb2.BoundingBox(x_min=x0, y_min=y0, x_max=x1, y_max=y1))
                        for label, conf, x0, y0, x1, y1 in found
                    ],
                )
                self._publish(event)
                # Pace against absolute deadlines so the rate does not drift; after a stall
                # start afresh instead of bursting to catch up.
                deadline += self.period
                delay = deadline - loop.time()
                if delay < -self.period:
                    deadline = loop.time()
                    delay = 0.0
                await asyncio.sleep(max(0.0, delay))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the viewers learn of it; the server keeps serving others
            log.exception("camera %s: failed", self.camera_id)
            self._publish(exc)
            self.task = None
        finally:
            if detector is not None:
                # Not awaited, so a cancelled task ends at once; the detector's lock orders it
                # after any step() still on the executor.
                try:
                    self.executor.submit(detector.close)
                except RuntimeError:  # executor already shut down: nothing runs on it now
                    detector.close()
            log.info("camera %s: stopped", self.camera_id)


def make_servicer(pb2, pb2_grpc, cameras):
    class VisionService(pb2_grpc.VisionServiceServicer):
        async def StreamDetections(self, request, context):
            worker = cameras.get(request.camera_id)
            if worker is None:
                await context.abort(grpc.StatusCode.NOT_FOUND,
                                    f"unknown camera {request.camera_id!r}")
            q = worker.subscribe()
            if q is None:
                await context.abort(grpc.StatusCode.UNAVAILABLE, "processor shutting down")
            try:
                while True:
                    item = await q.get()
                    if item is SHUTTING_DOWN:
                        await context.abort(grpc.StatusCode.UNAVAILABLE,
                                            "processor shutting down")
                    if isinstance(item, Exception):
                        await context.abort(grpc.StatusCode.UNAVAILABLE,
                                            f"camera {request.camera_id}: {item}")
                    yield item
            finally:
                # Runs on normal end, abort and client cancellation alike (the latter arrives
                # as CancelledError, which grpc.aio expects to propagate, so it is not caught).
                worker.unsubscribe(q)

    return VisionService()


async def serve(args):
    pb2, pb2_grpc = load_stubs(args.proto)
    video = Path(args.video)
    if not video.exists():
        log.info("generating %s (%d frames)", video, args.frames)
        t0 = time.monotonic()
        width, height = args.size
        generate_video(video, n_frames=args.frames, width=width, height=height, fps=args.fps)
        log.info("generated %s in %.1fs", video, time.monotonic() - t0)
    probe = cv2.VideoCapture(str(video))
    n_frames = int(probe.get(cv2.CAP_PROP_FRAME_COUNT)) if probe.isOpened() else 0
    probe.release()
    if n_frames <= 0:
        raise SystemExit(f"processor: cannot read video {video}")

    # Each camera starts at its own point of the loop, so the feeds differ.
    executor = concurrent.futures.ThreadPoolExecutor(
        max_workers=max(2, min(args.cameras, os.cpu_count() or 2)),
        thread_name_prefix="opencv")
    cameras = {}
    for i in range(args.cameras):
        cid = f"cam-{i + 1:02d}"
        cameras[cid] = CameraWorker(cid, i * n_frames // max(1, args.cameras), video,
                                    args.fps, executor, pb2)

    server = grpc.aio.server()
    pb2_grpc.add_VisionServiceServicer_to_server(make_servicer(pb2, pb2_grpc, cameras), server)
    host, _, port = args.listen.rpartition(":")
    try:
        bound = server.add_insecure_port(args.listen)
    except RuntimeError:  # newer grpcio raises where older ones returned 0
        bound = 0
    if bound == 0:
        raise SystemExit(f"processor: cannot listen on {args.listen}")
    await server.start()
    print(f"LISTENING {host}:{bound}", flush=True)
    log.info("serving %d cameras from %s at %s fps", args.cameras, video, args.fps)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutting down")
    # Streams never end by themselves: end them with a status first, so the grace period
    # below has nothing left to cancel.
    await asyncio.gather(*(w.close() for w in cameras.values()))
    await server.stop(grace=1.0)
    executor.shutdown(wait=True, cancel_futures=True)


def _size(text):
    w, _, h = text.lower().partition("x")
    if not (w.isdigit() and h.isdigit() and int(w) >= 64 and int(h) >= 48):
        raise argparse.ArgumentTypeError(f"expected WxH of at least 64x48, got {text!r}")
    return int(w), int(h)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--listen", default="127.0.0.1:0", help="host:port, port 0 picks a free one")
    p.add_argument("--video", default=str(DEFAULT_VIDEO),
                   help="video file every camera reads; generated if missing")
    p.add_argument("--fps", type=float, default=30.0, help="events per second per camera")
    p.add_argument("--cameras", type=int, default=4, help="serve cam-01..cam-NN")
    p.add_argument("--frames", type=int, default=300, help="length of a generated video")
    p.add_argument("--size", type=_size, default=(320, 240),
                   help="WxH of a generated video (the dashboard's default frame is 320x240)")
    p.add_argument("--proto", default=str(DEFAULT_PROTO))
    args = p.parse_args(argv)
    if args.fps <= 0 or args.cameras < 1 or args.frames < 2:
        p.error("--fps must be > 0, --cameras >= 1, --frames >= 2")
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Parallelism comes from one executor thread per camera; OpenCV's own thread pool on top
    # would only oversubscribe a small machine.
    cv2.setNumThreads(1)
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
