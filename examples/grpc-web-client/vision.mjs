// Calls seed 000's vision.VisionService/StreamDetections over gRPC-Web with a client no one
// here wrote, and prints what it received, for weir's stream-hook tests.
//
//   node vision.mjs <base-url> <camera_id> <client> [header=value ...]
//
// <client>:
//   connect-binary  @connectrpc/connect-web createGrpcWebTransport (application/grpc-web+proto, fetch)
//   grpcweb-text    grpc-web (Google's runtime) format "text" (application/grpc-web-text, XHR)
//   grpcweb-binary  grpc-web format "binary" (application/grpc-web+proto, XHR)
// (Under Node, grpc-web's XHR is xhr2, which hands over the response only when it ends: fine
// for finite streams; use connect-binary for an endless one.)
//
// Output: one JSON line per DetectionEvent, then one line {"status": <code>, "message": "..."}.
// VISION_MAX=N stops after N events (for endless streams) and reports status 0.

import { create, toBinary, fromBinary } from "@bufbuild/protobuf";
import { createClient, ConnectError } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import grpcWeb from "grpc-web";
import XMLHttpRequest from "xhr2";
import { VisionService, DetectionRequestSchema, DetectionEventSchema } from "./gen/vision_pb.js";

globalThis.XMLHttpRequest ??= XMLHttpRequest;

const [baseArg, cameraId, clientKind, ...headerArgs] = process.argv.slice(2);
if (!baseArg || cameraId === undefined || !clientKind) {
  console.error("usage: node vision.mjs <base-url> <camera_id> <connect-binary|grpcweb-text|grpcweb-binary> [header=value ...]");
  process.exit(2);
}
const baseUrl = baseArg.replace(/\/$/, "");
const max = Number(process.env.VISION_MAX ?? 0);
let seen = 0;
const headers = Object.fromEntries(headerArgs.map((h) => h.split(/=(.*)/s).slice(0, 2)));

function show(ev) {
  console.log(JSON.stringify({
    camera_id: ev.cameraId,
    timestamp_ms: Number(ev.timestampMs),
    camera_location: ev.cameraLocation,
    camera_status: ev.cameraStatus,
    install_date: ev.installDate,
    labels: ev.objects.map((o) => o.label.length > 32 ? `${o.label.length} bytes` : o.label),
  }));
}

async function viaConnect() {
  const client = createClient(VisionService, createGrpcWebTransport({ baseUrl, useBinaryFormat: true }));
  const abort = new AbortController();
  try {
    for await (const ev of client.streamDetections({ cameraId }, { headers, signal: abort.signal })) {
      show(ev);
      if (max && ++seen >= max) {
        abort.abort();
        return { status: 0, message: "" };
      }
    }
    return { status: 0, message: "" };
  } catch (e) {
    if (e instanceof ConnectError) return { status: e.code, message: e.rawMessage };
    throw e;
  }
}

function viaGrpcWeb(format) {
  const md = new grpcWeb.MethodDescriptor(
    "/vision.VisionService/StreamDetections", "server_streaming", Object, Object,
    (r) => toBinary(DetectionRequestSchema, create(DetectionRequestSchema, r)),
    (b) => fromBinary(DetectionEventSchema, b),
  );
  const client = new grpcWeb.GrpcWebClientBase({ format });
  return new Promise((resolve) => {
    let done = false;
    const finish = (s) => {
      if (!done) {
        done = true;
        resolve(s);
      }
    };
    const call = client.serverStreaming(`${baseUrl}/vision.VisionService/StreamDetections`, { cameraId }, headers, md);
    call.on("data", (ev) => {
      show(ev);
      if (max && ++seen >= max) {
        call.cancel();
        finish({ status: 0, message: "" });
      }
    });
    call.on("status", (s) => { if (s.code !== 0) finish({ status: s.code, message: s.details }); });
    call.on("error", (e) => finish({ status: e.code, message: e.message }));
    call.on("end", () => finish({ status: 0, message: "" }));
  });
}

const result = clientKind === "connect-binary" ? await viaConnect()
  : clientKind === "grpcweb-text" ? await viaGrpcWeb("text")
  : clientKind === "grpcweb-binary" ? await viaGrpcWeb("binary")
  : (() => { console.error(`unknown client ${clientKind}`); process.exit(2); })();
console.log(JSON.stringify(result));
// A cancelled XHR stream can keep the event loop alive; the answer is out.
process.exit(0);
