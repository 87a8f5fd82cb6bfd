import { useEffect, useRef } from "react";
import { reaction } from "mobx";
import type { CameraStore } from "../stores/cameraStore";
import { drawDetections } from "../draw";

// Backing store at twice the default frame size, so captions stay sharp; CSS scales it.
const CANVAS_W = 640;
const CANVAS_H = 480;

/**
 * Draws outside React's render cycle: a MobX reaction paints each event's boxes straight onto
 * the canvas (30 fps × many cameras would be wasteful as re-renders) and records what it drew
 * in data-boxes / data-frames for tests.
 */
export function DetectionCanvas({ camera, frame }: { camera: CameraStore; frame: { width: number; height: number } }) {
  const ref = useRef<HTMLCanvasElement>(null);

  useEffect(() => {
    const canvas = ref.current;
    const ctx = canvas?.getContext("2d");
    if (!canvas || !ctx) return;
    let drawn = 0;
    let lastBoxes = camera.boxes;
    drawDetections(ctx, camera.boxes, frame, camera.state === "streaming");
    return reaction(
      () => ({ boxes: camera.boxes, live: camera.state === "streaming" }),
      ({ boxes, live }) => {
        drawDetections(ctx, boxes, frame, live);
        if (boxes !== lastBoxes) {
          lastBoxes = boxes;
          drawn += 1;
          canvas.dataset.boxes = JSON.stringify(boxes);
          canvas.dataset.frames = String(drawn);
        }
      },
    );
  }, [camera, frame]);

  return (
    <canvas
      ref={ref}
      className="detections"
      width={CANVAS_W}
      height={CANVAS_H}
      data-field="canvas"
      data-boxes="[]"
      data-frames="0"
    />
  );
}
