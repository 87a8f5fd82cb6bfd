// One camera: its stream from weir, the enriched metadata, and the live figures.

import { action, makeObservable, observable, observableRef } from "mobx";
import { ConnectError, type Client } from "@connectrpc/connect";
import type { DetectionEvent, VisionService } from "../gen/vision_pb";
import { Backoff } from "./backoff";

export type ConnState = "connecting" | "streaming" | "error" | "closed";

/** [x_min, y_min, x_max, y_max, label, confidence]: the canvas's data-boxes contract. */
export type Box = [number, number, number, number, string, number];

/** Weight of the newest sample in the smoothed latency. */
const LATENCY_ALPHA = 0.1;
/** Events per second is counted over this window. */
const EPS_WINDOW_MS = 1000;
/** How often the displayed figures (eps, latency) are refreshed. */
const FIGURES_EVERY_MS = 250;

export function toBoxes(ev: DetectionEvent): Box[] {
  return ev.objects.map((o) => {
    const b = o.box;
    // float32 on the wire: 0.91 arrives as 0.9100000262; three decimals are all a person reads.
    const conf = Math.round(o.confidence * 1000) / 1000;
    return [b?.xMin ?? 0, b?.yMin ?? 0, b?.xMax ?? 0, b?.yMax ?? 0, o.label, conf];
  });
}

function describe(e: unknown): string {
  if (e instanceof ConnectError) return e.message;
  return e instanceof Error ? e.message : String(e);
}

export class CameraStore {
  state: ConnState = "connecting";
  error = "";
  location = "";
  status = "";
  installDate = "";
  boxes: Box[] = [];
  events = 0;
  eps = 0;
  latencyMs: number | null = null;
  /** When the next reconnection attempt starts (ms since epoch), while waiting for it. */
  retryAt: number | null = null;

  private readonly backoff = new Backoff(500, 10_000);
  private arrivals: number[] = [];
  private smoothedLatency: number | null = null;
  private lastEventAt = 0;
  private abort: AbortController | null = null;
  private wake: (() => void) | null = null;
  private ticker: ReturnType<typeof setInterval> | null = null;
  private stopped = false;

  constructor(
    readonly cameraId: string,
    private readonly client: Client<typeof VisionService>,
    private readonly stallTimeoutMs: number,
  ) {
    makeObservable(this, {
      state: observable,
      error: observable,
      location: observable,
      status: observable,
      installDate: observable,
      boxes: observableRef,
      events: observable,
      eps: observable,
      latencyMs: observable,
      retryAt: observable,
      onEvent: action,
      setState: action,
      refreshFigures: action,
    });
  }

  start(): void {
    this.ticker = setInterval(() => this.refreshFigures(), FIGURES_EVERY_MS);
    void this.run();
  }

  stop(): void {
    this.stopped = true;
    if (this.ticker) clearInterval(this.ticker);
    this.abort?.abort();
    this.wake?.();
    this.setState("closed", this.error);
  }

  /** Open the stream, read it until it ends or fails, wait the back-off, repeat. */
  private async run(): Promise<void> {
    while (!this.stopped) {
      this.setState("connecting", this.error);
      const abort = new AbortController();
      this.abort = abort;
      const openedAt = Date.now();
      this.smoothedLatency = null;
      // A half-open connection never errors, and a request queued behind the browser's
      // per-host connection limit never starts: both would sit there silently without this.
      const watchdog = setInterval(() => {
        const now = Date.now();
        if (this.state === "streaming" && now - this.lastEventAt > this.stallTimeoutMs) {
          abort.abort(new Error(`no event for ${this.stallTimeoutMs / 1000} s`));
        } else if (this.state !== "streaming" && now - openedAt > 2 * this.stallTimeoutMs) {
          abort.abort(new Error(`no event within ${(2 * this.stallTimeoutMs) / 1000} s of opening the stream`));
        }
      }, 1000);
      let outcome: { state: ConnState; error: string };
      try {
        for await (const ev of this.client.streamDetections({ cameraId: this.cameraId }, { signal: abort.signal })) {
          this.onEvent(ev);
        }
        outcome = { state: "closed", error: "stream ended by the server" };
      } catch (e) {
        // An abort we caused (stall) surfaces as a ConnectError wrapping our reason.
        outcome = { state: "error", error: describe(abort.signal.aborted ? (abort.signal.reason ?? e) : e) };
      } finally {
        clearInterval(watchdog);
      }
      if (this.stopped) return;
      this.setState(outcome.state, outcome.error);
      await this.pause(this.backoff.next());
    }
  }

  private pause(ms: number): Promise<void> {
    this.setState(this.state, this.error, Date.now() + ms);
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wake = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake = done;
    });
  }

  setState(state: ConnState, error: string, retryAt: number | null = null): void {
    this.state = state;
    this.error = error;
    this.retryAt = retryAt;
  }

  onEvent(ev: DetectionEvent): void {
    const now = Date.now();
    if (this.state !== "streaming") {
      this.state = "streaming";
      this.error = "";
      this.backoff.reset();
    }
    this.lastEventAt = now;
    this.arrivals.push(now);
    const latency = now - Number(ev.timestampMs);
    this.smoothedLatency =
      this.smoothedLatency === null ? latency : this.smoothedLatency + LATENCY_ALPHA * (latency - this.smoothedLatency);
    this.events += 1;
    this.boxes = toBoxes(ev);
    if (ev.cameraLocation !== this.location) this.location = ev.cameraLocation;
    if (ev.cameraStatus !== this.status) this.status = ev.cameraStatus;
    if (ev.installDate !== this.installDate) this.installDate = ev.installDate;
  }

  refreshFigures(): void {
    const now = Date.now();
    const cutoff = now - EPS_WINDOW_MS;
    let drop = 0;
    while (drop < this.arrivals.length && this.arrivals[drop] <= cutoff) drop++;
    if (drop) this.arrivals = this.arrivals.slice(drop);
    this.eps = (this.arrivals.length * 1000) / EPS_WINDOW_MS;
    // A latency is only meaningful while events arrive; the last one would look current.
    const live = this.state === "streaming" && this.smoothedLatency !== null;
    this.latencyMs = live ? Math.round(this.smoothedLatency!) : null;
  }
}
