// All cameras of the page, and the figures of the header.

import { computed, makeObservable } from "mobx";
import { createClient } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { VisionService } from "../gen/vision_pb";
import { connectionOrigins, type DashboardConfig } from "../config";
import { CameraStore } from "./cameraStore";

export class DashboardStore {
  readonly cameras: CameraStore[];
  /** One object for the page's lifetime: the canvases redraw setup keys on it. */
  readonly frame: { width: number; height: number };
  /** The gRPC-Web base URLs the cameras' streams are spread over. */
  readonly origins: string[];

  constructor(readonly config: DashboardConfig) {
    this.frame = { width: config.frameWidth, height: config.frameHeight };
    this.origins = connectionOrigins(config.grpcWebUrls, config.cameras.length);
    const clients = this.origins.map((baseUrl) =>
      createClient(VisionService, createGrpcWebTransport({ baseUrl, useBinaryFormat: true })),
    );
    this.cameras = config.cameras.map(
      (id, i) => new CameraStore(id, clients[i % clients.length], config.stallTimeoutMs),
    );
    makeObservable(this, { streaming: computed, totalEps: computed });
  }

  get streaming(): number {
    return this.cameras.filter((c) => c.state === "streaming").length;
  }

  get totalEps(): number {
    return this.cameras.reduce((sum, c) => sum + c.eps, 0);
  }

  start(): void {
    for (const c of this.cameras) c.start();
  }

  stop(): void {
    for (const c of this.cameras) c.stop();
  }
}
