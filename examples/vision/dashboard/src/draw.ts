// Paints one frame's detections onto a canvas, scaled from frame pixels to canvas pixels.

import type { Box } from "./stores/cameraStore";

// Distinct colours, handed out in the order labels first appear, so a class keeps its colour
// on every camera (a hash of a handful of labels collides too easily).
const PALETTE = ["#58a6ff", "#f0883e", "#3fb950", "#d2a8ff", "#ff7b72", "#e3b341", "#39c5cf", "#ff9bce"];
const colors = new Map<string, string>();

function labelColor(label: string): string {
  let c = colors.get(label);
  if (!c) {
    c = PALETTE[colors.size % PALETTE.length];
    colors.set(label, c);
  }
  return c;
}

export function drawDetections(
  ctx: CanvasRenderingContext2D,
  boxes: Box[],
  frame: { width: number; height: number },
  live: boolean,
): void {
  const { width, height } = ctx.canvas;
  const sx = width / frame.width;
  const sy = height / frame.height;
  ctx.fillStyle = "#10151c";
  ctx.fillRect(0, 0, width, height);
  ctx.globalAlpha = live ? 1 : 0.35;
  const font = Math.max(11, Math.round(height / 24));
  ctx.font = `${font}px system-ui, sans-serif`;
  ctx.lineWidth = 3;
  for (const [x0, y0, x1, y1, label, conf] of boxes) {
    const x = x0 * sx;
    const y = y0 * sy;
    const color = labelColor(label);
    const w = (x1 - x0) * sx;
    const h = (y1 - y0) * sy;
    const alpha = ctx.globalAlpha;
    ctx.globalAlpha = alpha * 0.15;
    ctx.fillStyle = color;
    ctx.fillRect(x, y, w, h);
    ctx.globalAlpha = alpha;
    ctx.strokeStyle = color;
    ctx.strokeRect(x, y, w, h);
    const text = `${label} ${conf.toFixed(2)}`;
    const tw = ctx.measureText(text).width + 8;
    // Caption above the box, or inside it when the box touches the top edge.
    const ty = y >= font + 4 ? y - font - 4 : y;
    ctx.fillStyle = color;
    ctx.fillRect(x, ty, tw, font + 4);
    ctx.fillStyle = "#0b0f14";
    ctx.fillText(text, x + 4, ty + font);
  }
  ctx.globalAlpha = 1;
  if (!live) {
    const big = Math.round(height / 10);
    ctx.font = `600 ${big}px system-ui, sans-serif`;
    ctx.textAlign = "center";
    ctx.fillStyle = "rgba(13, 17, 23, 0.75)";
    ctx.fillRect(0, height / 2 - big, width, big * 1.6);
    ctx.fillStyle = "#c9d1d9";
    ctx.fillText("no signal", width / 2, height / 2 + big * 0.25);
    ctx.textAlign = "start";
  }
}
