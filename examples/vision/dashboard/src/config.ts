// /config.json, served by whoever serves the dashboard (vision-demo, or Vite's dev server).

export interface DashboardConfig {
  /** gRPC-Web base URLs of weir; cameras are spread over them (see connectionOrigins). */
  grpcWebUrls: string[];
  cameras: string[];
  /** Size of the frames the boxes' pixel coordinates refer to. */
  frameWidth: number;
  frameHeight: number;
  /** A stream that delivers nothing for this long is treated as dead and reopened. */
  stallTimeoutMs: number;
}

const DEFAULTS = { frameWidth: 320, frameHeight: 240, stallTimeoutMs: 5000 };

// Browsers keep at most 6 HTTP/1.1 connections per scheme+host+port, and each camera holds one
// for its stream, so a 7th camera on a plain-http gateway would wait forever. Loopback has two
// names for the same listener; using both doubles the budget without asking anything of the
// server. Over https (HTTP/2, one multiplexed connection) or with explicit grpcWebUrls this
// does nothing.
const PER_HOST_LIMIT = 6;
const LOOPBACK_ALIAS: Record<string, string> = { "127.0.0.1": "localhost", localhost: "127.0.0.1" };

export function connectionOrigins(urls: string[], cameraCount: number): string[] {
  if (urls.length !== 1 || cameraCount <= PER_HOST_LIMIT) return urls;
  const url = new URL(urls[0]);
  const alias = LOOPBACK_ALIAS[url.hostname];
  if (url.protocol !== "http:" || !alias) return urls;
  const other = new URL(urls[0]);
  other.hostname = alias;
  return [urls[0], other.toString().replace(/\/$/, "")];
}

function positive(v: unknown, name: string, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== "number" || !(v > 0)) throw new Error(`config.json: ${name} must be a positive number`);
  return v;
}

export function parseConfig(raw: unknown): DashboardConfig {
  if (typeof raw !== "object" || raw === null) throw new Error("config.json: not an object");
  const c = raw as Record<string, unknown>;
  const urls = Array.isArray(c.grpcWebUrls) ? c.grpcWebUrls : [c.grpcWebUrl];
  if (urls.length === 0 || !urls.every((u) => typeof u === "string" && u !== "")) {
    throw new Error("config.json: grpcWebUrl (a string) or grpcWebUrls (strings) is required");
  }
  if (!Array.isArray(c.cameras) || !c.cameras.every((id) => typeof id === "string")) {
    throw new Error("config.json: cameras must be a list of camera ids");
  }
  return {
    grpcWebUrls: (urls as string[]).map((u) => u.replace(/\/$/, "")),
    cameras: c.cameras as string[],
    frameWidth: positive(c.frameWidth, "frameWidth", DEFAULTS.frameWidth),
    frameHeight: positive(c.frameHeight, "frameHeight", DEFAULTS.frameHeight),
    stallTimeoutMs: positive(c.stallTimeoutMs, "stallTimeoutMs", DEFAULTS.stallTimeoutMs),
  };
}

export async function loadConfig(): Promise<DashboardConfig> {
  const res = await fetch("/config.json", { cache: "no-store" });
  if (!res.ok) throw new Error(`GET /config.json: HTTP ${res.status}`);
  return parseConfig(await res.json());
}
