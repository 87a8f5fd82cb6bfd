// gRPC-Web end-to-end check against weir.test.Echo (weir-testkit's GrpcUpstream behind a
// gRPC-Web translator such as weir with proxy.enable_grpc_web).
//
//   node client.mjs http://127.0.0.1:8080[/prefix]
//
// Clients (neither written here):
//   * @connectrpc/connect-web createGrpcWebTransport, useBinaryFormat true:
//     application/grpc-web+proto over fetch.
//   * @connectrpc/connect-web createGrpcWebTransport, useBinaryFormat false:
//     application/grpc-web+json (JSON messages; needs an upstream that speaks
//     application/grpc+json). Only with GRPC_WEB_JSON=1.
//   * grpc-web (Google's runtime) with format "text": application/grpc-web-text
//     (base64 request and response) over XMLHttpRequest (xhr2 in Node).
//
// Cases per client: unary echo (+ header and trailing metadata), server streaming (50
// messages), an error status with its message and trailing metadata (trailers-only from
// tonic). GRPC_WEB_EXTRA=1 adds a stream that fails after 3 messages (x-fail-after request
// metadata; the scratch upstream implements it, weir-testkit does not).
// Exit code 0 when every check passed; the last line is "N passed, N failed".

import { create, toBinary, fromBinary } from "@bufbuild/protobuf";
import { createClient, ConnectError, Code } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import grpcWeb from "grpc-web";
import XMLHttpRequest from "xhr2";
import { Echo, EchoRequestSchema, EchoReplySchema, StreamRequestSchema } from "./gen/echo_pb.js";

globalThis.XMLHttpRequest ??= XMLHttpRequest;

const baseUrl = (process.argv[2] ?? process.env.GRPC_WEB_URL ?? "http://127.0.0.1:8080").replace(/\/$/, "");
const extra = process.env.GRPC_WEB_EXTRA === "1";
const json = process.env.GRPC_WEB_JSON === "1";
const STREAM_COUNT = 50;

let passed = 0;
let failed = 0;

function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
}

async function run(name, fn) {
  try {
    await fn();
    passed++;
    console.log(`ok   ${name}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${e?.stack ?? e}`);
  }
}

const payload = new Uint8Array(2000).map((_, i) => (i * 7) % 256);
const sameBytes = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

// ---------------------------------------------------------------- connect-web (fetch)

async function connectCases(label, useBinaryFormat) {
  const client = createClient(Echo, createGrpcWebTransport({ baseUrl, useBinaryFormat }));

  await run(`${label} unary`, async () => {
    let headers, trailers;
    const reply = await client.unary(
      { message: "hello gRPC-Web", payload },
      { headers: { "x-test": "unary-1" }, onHeader: (h) => (headers = h), onTrailer: (t) => (trailers = t) },
    );
    check(reply.message === "hello gRPC-Web", `message ${reply.message}`);
    check(sameBytes(reply.payload, payload), "payload round trip");
    check(headers?.get("x-test") === "unary-1", `x-test header ${headers?.get("x-test")}`);
    check(trailers?.get("x-trailer") === "done", `x-trailer ${trailers?.get("x-trailer")}`);
  });

  await run(`${label} server stream x${STREAM_COUNT}`, async () => {
    let trailers;
    const seqs = [];
    for await (const r of client.serverStream(
      { count: STREAM_COUNT, size: 64 },
      { onTrailer: (t) => (trailers = t) },
    )) {
      check(r.message === `msg ${r.seq}` && r.payload.length === 64, `reply ${r.seq}`);
      seqs.push(r.seq);
    }
    check(seqs.length === STREAM_COUNT, `got ${seqs.length} messages`);
    check(seqs.every((s, i) => s === i), "in order");
    check(trailers?.get("x-trailer") === "done", "stream trailer");
  });

  await run(`${label} error status`, async () => {
    try {
      await client.unary({ message: "fail" });
      throw new Error("expected an error");
    } catch (e) {
      check(e instanceof ConnectError, `not a ConnectError: ${e}`);
      check(e.code === Code.InvalidArgument, `code ${e.code}`);
      check(e.rawMessage === "you asked for failure", `message ${e.rawMessage}`);
      check(e.metadata.get("x-trailer") === "done", `error metadata x-trailer: ${e.metadata.get("x-trailer")}`);
    }
  });

  if (extra) {
    await run(`${label} empty stream, trailers-only OK`, async () => {
      let trailers;
      const got = [];
      for await (const r of client.serverStream(
        { count: 5 },
        { headers: { "x-trailers-only-ok": "1" }, onTrailer: (t) => (trailers = t) },
      )) {
        got.push(r);
      }
      check(got.length === 0, `got ${got.length} messages`);
      check(trailers?.get("x-trailer") === "done", `trailer ${trailers?.get("x-trailer")}`);
    });
  }

  if (extra && useBinaryFormat) {
    await run(`${label} stream fails after 3`, async () => {
      const got = [];
      try {
        for await (const r of client.serverStream(
          { count: 10, size: 1 },
          { headers: { "x-fail-after": "3" } },
        )) {
          got.push(r.seq);
        }
        throw new Error("expected an error");
      } catch (e) {
        check(e instanceof ConnectError, `not a ConnectError: ${e}`);
        check(got.length === 3, `got ${got.length} messages first`);
        check(e.code === Code.Aborted, `code ${e.code}`);
        check(e.rawMessage === "stopped after 3 — ünïcode", `message ${e.rawMessage}`);
        check(e.metadata.get("x-reason") === "test", "trailing metadata");
      }
    });
  }
}

// ---------------------------------------------------------------- grpc-web (XHR, text)

const serialize = (r) => toBinary(EchoRequestSchema, create(EchoRequestSchema, r));
const serializeStream = (r) => toBinary(StreamRequestSchema, create(StreamRequestSchema, r));
const deserialize = (b) => fromBinary(EchoReplySchema, b);
const unaryMd = new grpcWeb.MethodDescriptor("/weir.test.Echo/Unary", "unary", Object, Object, serialize, deserialize);
const streamMd = new grpcWeb.MethodDescriptor(
  "/weir.test.Echo/ServerStream", "server_streaming", Object, Object, serializeStream, deserialize,
);

// Resolves with { reply, headers, status } or { error, status }.
function grpcWebUnary(client, req, metadata) {
  return new Promise((resolve) => {
    const out = {};
    const call = client.rpcCall(`${baseUrl}/weir.test.Echo/Unary`, req, metadata, unaryMd, (err, reply) => {
      if (err) out.error = err;
      else out.reply = reply;
      if (out.status || err) resolve(out);
    });
    call.on("metadata", (h) => (out.headers = h));
    call.on("status", (s) => {
      out.status = s;
      if (out.reply || out.error) resolve(out);
    });
  });
}

function grpcWebStream(client, req, metadata) {
  return new Promise((resolve) => {
    const out = { replies: [] };
    const call = client.serverStreaming(`${baseUrl}/weir.test.Echo/ServerStream`, req, metadata, streamMd);
    call.on("data", (r) => out.replies.push(r));
    call.on("status", (s) => (out.status = s));
    call.on("error", (e) => {
      out.error = e;
      resolve(out);
    });
    call.on("end", () => resolve(out));
  });
}

async function grpcWebCases(label, format) {
  const client = new grpcWeb.GrpcWebClientBase({ format });

  await run(`${label} unary`, async () => {
    const out = await grpcWebUnary(client, { message: "hello text", payload }, { "x-test": "t-1" });
    check(!out.error, `error ${out.error?.message}`);
    check(out.reply.message === "hello text", `message ${out.reply.message}`);
    check(sameBytes(out.reply.payload, payload), "payload round trip");
    check(out.headers?.["x-test"] === "t-1", `x-test header ${JSON.stringify(out.headers)}`);
    check(out.status?.code === 0, `status ${JSON.stringify(out.status)}`);
    check(out.status?.metadata?.["x-trailer"] === "done", `trailer ${JSON.stringify(out.status)}`);
  });

  await run(`${label} server stream x${STREAM_COUNT}`, async () => {
    const out = await grpcWebStream(client, { count: STREAM_COUNT, size: 33 }, {});
    check(!out.error, `error ${out.error?.message}`);
    check(out.replies.length === STREAM_COUNT, `got ${out.replies.length} messages`);
    check(out.replies.every((r, i) => r.seq === i && r.payload.length === 33), "in order");
    check(out.status?.code === 0, `status ${JSON.stringify(out.status)}`);
  });

  await run(`${label} error status`, async () => {
    const out = await grpcWebUnary(client, { message: "fail" }, {});
    check(out.error, "expected an error");
    check(out.error.code === 3, `code ${out.error.code}`);
    check(out.error.message === "you asked for failure", `message ${out.error.message}`);
    check(out.error.metadata?.["x-trailer"] === "done", `metadata ${JSON.stringify(out.error.metadata)}`);
  });

  if (extra) {
    await run(`${label} empty stream, trailers-only OK`, async () => {
      const out = await grpcWebStream(client, { count: 5 }, { "x-trailers-only-ok": "1" });
      check(!out.error, `error ${out.error?.message}`);
      check(out.replies.length === 0, `got ${out.replies.length} messages`);
      check(out.status?.code === 0, `status ${JSON.stringify(out.status)}`);
      check(out.status?.metadata?.["x-trailer"] === "done", `trailer ${JSON.stringify(out.status)}`);
    });
    await run(`${label} stream fails after 3`, async () => {
      const out = await grpcWebStream(client, { count: 10, size: 1 }, { "x-fail-after": "3" });
      check(out.replies.length === 3, `got ${out.replies.length} messages first`);
      check(out.error?.code === 10, `code ${out.error?.code}`);
      check(out.error?.message === "stopped after 3 — ünïcode", `message ${out.error?.message}`);
      check(out.error?.metadata?.["x-reason"] === "test", "trailing metadata");
    });
  }
}

console.log(`gRPC-Web checks against ${baseUrl}`);
await connectCases("connect-web binary (+proto)", true);
if (json) await connectCases("connect-web json (+json)", false);
await grpcWebCases("grpc-web text", "text");
await grpcWebCases("grpc-web binary", "binary");
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
