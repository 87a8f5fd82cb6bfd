/*
 * weir_plugin.h: Weir's native plugin ABI, version 1, for plugins written in C (or any
 * language with a C FFI). The Rust definitions in crates/weir-plugin-abi/src/lib.rs are the
 * same types; a test compiles this header and checks every size and offset against them.
 *
 * A plugin is a shared library (gcc -shared -fPIC) exporting two symbols:
 *
 *   const uint32_t weir_plugin_abi_version = WEIR_PLUGIN_ABI_VERSION;
 *   const WeirPluginV1 *weir_plugin_v1(void);   -- returns a descriptor with static lifetime
 *
 * The host reads weir_plugin_abi_version before touching anything else and refuses a library
 * built for another version. The plugin never receives a serialized request: each hook call
 * gets an opaque WeirCtx pointer and the host's function table (WeirHostApi), and reads or
 * changes only what it needs.
 *
 * Rules:
 *  - Strings cross as WeirStr {ptr, len}: not NUL-terminated, UTF-8 unless a function says
 *    bytes; ptr may be NULL only when len is 0. Data the host hands out stays valid until the
 *    next host call on the same ctx and never past the end of the hook call: copy what you keep.
 *  - Host functions return a WeirStatus: WEIR_OK, WEIR_NOT_FOUND for an absent value, or a
 *    negative error. Functions marked "response hooks" return WEIR_ERR_UNAVAILABLE elsewhere.
 *  - call() may run on several threads at once with the same instance: make it thread-safe.
 *    A ctx belongs to one call on one thread and is dead once that call returns.
 *  - Native code runs on the gateway's thread and cannot be pre-empted: a hook that overruns
 *    its deadline fails the request only after it returns. A crash (segfault, abort) takes the
 *    gateway down: unlike Wasm and gRPC plugins, native plugins are trusted code.
 *  - Version 1 grows only by appending fields to WeirHostApi and WeirPluginV1; each side checks
 *    the other's struct_size and reads only fields that exist on both (WEIR_HOST_HAS below).
 *
 * Stream hooks (on_grpc_message) answer with their status: WEIR_OK passes the message (replaced
 * if the hook called set_grpc_message), WEIR_GRPC_DROP drops it, WEIR_GRPC_END ends the call
 * with the status given to set_grpc_status; an error fails the call with gRPC INTERNAL.
 */
#ifndef WEIR_PLUGIN_H
#define WEIR_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WEIR_PLUGIN_ABI_VERSION 1u

/* Exports a plugin symbol even when the library is built with -fvisibility=hidden. */
#define WEIR_EXPORT __attribute__((visibility("default")))

/* Status codes. */
typedef int32_t WeirStatus;
#define WEIR_OK 0
#define WEIR_NOT_FOUND 1          /* the value is absent (header, param, session, config) */
#define WEIR_ERR_INVALID (-1)     /* bad argument: not UTF-8, bad header, null pointer... */
#define WEIR_ERR_UNAVAILABLE (-2) /* not in this hook (response outside response hooks) */
#define WEIR_ERR_HOOK (-3)        /* the hook failed; say why with set_error first */
#define WEIR_ERR_PANIC (-4)       /* the hook panicked/threw; message via set_error */
#define WEIR_ERR_ABI (-5)         /* the other side's struct_size is too small */
#define WEIR_ERR_INTERNAL (-6)    /* a host bug; nothing was changed */

/* on_grpc_message verdicts (besides WEIR_OK = pass). */
#define WEIR_GRPC_DROP 2 /* do not send this message; the stream goes on */
#define WEIR_GRPC_END 3  /* end the call with the status given to set_grpc_status */

/* hook_kind values (Tyk's coprocess.HookType numbers). */
#define WEIR_HOOK_PRE 1u
#define WEIR_HOOK_POST 2u
#define WEIR_HOOK_POST_KEY_AUTH 3u
#define WEIR_HOOK_AUTH_CHECK 4u
#define WEIR_HOOK_RESPONSE 5u

/* log levels. */
#define WEIR_LOG_TRACE 0u
#define WEIR_LOG_DEBUG 1u
#define WEIR_LOG_INFO 2u
#define WEIR_LOG_WARN 3u
#define WEIR_LOG_ERROR 4u

/* on_grpc_message directions. */
#define WEIR_GRPC_CLIENT_TO_SERVER 1u
#define WEIR_GRPC_SERVER_TO_CLIENT 2u

/* The host's per-call context: opaque. */
typedef struct WeirCtx WeirCtx;

/* A borrowed string or byte buffer. */
typedef struct WeirStr {
  const uint8_t *ptr;
  size_t len;
} WeirStr;

/* WeirStr from a string literal. */
#define WEIR_STR(lit) ((WeirStr){(const uint8_t *)(lit), sizeof(lit) - 1})

/* A host-owned buffer into which init writes why it failed (at most cap bytes; set len). */
typedef struct WeirErrorBuf {
  uint8_t *ptr;
  size_t cap;
  size_t len;
} WeirErrorBuf;

/* The host's function table. */
typedef struct WeirHostApi {
  uint32_t abi_version; /* the host's WEIR_PLUGIN_ABI_VERSION */
  uint32_t struct_size; /* sizeof(WeirHostApi) on the host: fields past it do not exist */

  WeirStatus (*get_method)(WeirCtx *ctx, WeirStr *out);
  WeirStatus (*set_method)(WeirCtx *ctx, WeirStr method);
  /* path and query, listen path included (Tyk's request.url) */
  WeirStatus (*get_url)(WeirCtx *ctx, WeirStr *out);
  WeirStatus (*set_url)(WeirCtx *ctx, WeirStr url);
  /* as the client sent it; read-only */
  WeirStatus (*get_request_uri)(WeirCtx *ctx, WeirStr *out);
  /* "http" or "https"; read-only */
  WeirStatus (*get_scheme)(WeirCtx *ctx, WeirStr *out);

  /* first value; names are case-insensitive; values are bytes */
  WeirStatus (*get_request_header)(WeirCtx *ctx, WeirStr name, WeirStr *out);
  /* replaces every value */
  WeirStatus (*set_request_header)(WeirCtx *ctx, WeirStr name, WeirStr value);
  WeirStatus (*delete_request_header)(WeirCtx *ctx, WeirStr name);

  WeirStatus (*get_request_body)(WeirCtx *ctx, WeirStr *out);
  WeirStatus (*set_request_body)(WeirCtx *ctx, WeirStr body);

  /* first value, percent-decoded */
  WeirStatus (*get_query_param)(WeirCtx *ctx, WeirStr name, WeirStr *out);
  /* replaces every value (Tyk's add_params) */
  WeirStatus (*set_query_param)(WeirCtx *ctx, WeirStr name, WeirStr value);
  WeirStatus (*delete_query_param)(WeirCtx *ctx, WeirStr name);

  /* response hooks */
  WeirStatus (*get_response_status)(WeirCtx *ctx, int32_t *out);
  WeirStatus (*set_response_status)(WeirCtx *ctx, int32_t status); /* 100..=999 */
  WeirStatus (*get_response_header)(WeirCtx *ctx, WeirStr name, WeirStr *out);
  WeirStatus (*set_response_header)(WeirCtx *ctx, WeirStr name, WeirStr value);
  WeirStatus (*delete_response_header)(WeirCtx *ctx, WeirStr name);
  WeirStatus (*get_response_body)(WeirCtx *ctx, WeirStr *out);
  WeirStatus (*set_response_body)(WeirCtx *ctx, WeirStr body);

  /* Answer the client instead of the upstream (Tyk's return overrides): code >= 400 with
   * override_error == 0 renders Tyk's error template with body as the message; any other
   * code sends body (UTF-8) as is; -1 removes the override (and its headers). Codes are 100..=999. */
  WeirStatus (*set_return_override)(WeirCtx *ctx, int32_t code, WeirStr body,
                                    uint32_t override_error);
  WeirStatus (*add_override_header)(WeirCtx *ctx, WeirStr name, WeirStr value);

  /* metadata; for auth_check, "token" names the key */
  WeirStatus (*get_metadata)(WeirCtx *ctx, WeirStr key, WeirStr *out);
  WeirStatus (*set_metadata)(WeirCtx *ctx, WeirStr key, WeirStr value);

  /* session as Tyk REST JSON; WEIR_NOT_FOUND when none (always in pre and auth_check) */
  WeirStatus (*get_session_json)(WeirCtx *ctx, WeirStr *out);
  /* replaces the session; the JSON null removes it */
  WeirStatus (*set_session_json)(WeirCtx *ctx, WeirStr json);

  /* the API's config_data as JSON text; WEIR_NOT_FOUND when unset */
  WeirStatus (*get_config_data)(WeirCtx *ctx, WeirStr *out);

  /* ctx may be NULL (e.g. in init) */
  WeirStatus (*log)(WeirCtx *ctx, uint32_t level, WeirStr msg);
  /* says why the hook failed, before returning WEIR_ERR_HOOK */
  WeirStatus (*set_error)(WeirCtx *ctx, WeirStr msg);
  /* replaces the message being processed (bytes); on_grpc_message only, then return WEIR_OK */
  WeirStatus (*set_grpc_message)(WeirCtx *ctx, WeirStr message);

  /* Appended for stream hooks: check WEIR_HOST_HAS(host, field) before calling them. */
  /* the gRPC status ending the call (code 0..=16, message UTF-8); on_grpc_message only, then
   * return WEIR_GRPC_END */
  WeirStatus (*set_grpc_status)(WeirCtx *ctx, uint32_t code, WeirStr message);
  /* the message's position in its direction, from 0, counting dropped ones; on_grpc_message only */
  WeirStatus (*get_grpc_message_index)(WeirCtx *ctx, uint64_t *out);

  /* Appended for plugin metrics: check WEIR_HOST_HAS(host, count) before calling it. */
  /* adds delta to the plugin counter `name` of the call's API, shown on /metrics as
   * weir_plugin_events_total{api_id, name} (any hook; delta 0 just makes the series appear);
   * name is 1..=64 bytes of [A-Za-z0-9_.:-], else (or past the gateway's limit on series)
   * WEIR_ERR_INVALID */
  WeirStatus (*count)(WeirCtx *ctx, WeirStr name, uint64_t delta);
} WeirHostApi;

/* True when the host's table has `field` (host is a const WeirHostApi *). */
#define WEIR_HOST_HAS(host, field)                                                              \
  ((size_t)(host)->struct_size >= offsetof(WeirHostApi, field) + sizeof((host)->field))

/* The exported descriptor. */
typedef struct WeirPluginV1 {
  uint32_t abi_version; /* WEIR_PLUGIN_ABI_VERSION */
  uint32_t struct_size; /* sizeof(WeirPluginV1) */
  WeirStr name;         /* for logs */

  /* Builds an instance from the API's config_data (JSON text; "null" when unset). Returns
   * non-NULL (a stateless plugin may return the address of any static), or NULL after
   * writing why into err. */
  void *(*init)(const WeirHostApi *host, WeirStr config_json, WeirErrorBuf *err);

  /* Runs hook hook_name of kind hook_kind (WEIR_HOOK_*) on ctx. The name selects the
   * behaviour; an unknown name should fail with set_error + WEIR_ERR_HOOK. */
  WeirStatus (*call)(void *instance, const WeirHostApi *host, WeirCtx *ctx, uint32_t hook_kind,
                     WeirStr hook_name);

  /* Frees an instance, once, after its last call has returned. */
  void (*drop)(void *instance);

  /* Stream hooks; NULL when the plugin has none (declaring one for it is a load error). Sees
   * one gRPC message (direction is WEIR_GRPC_*, method_path "/package.Service/Method", message
   * the protobuf bytes without framing, decompressed; both valid for the whole call) and
   * returns WEIR_OK (pass; replaced after set_grpc_message), WEIR_GRPC_DROP, WEIR_GRPC_END
   * (after set_grpc_status) or an error (after set_error). Request getters (headers, session,
   * config data) work on ctx; get_method says "POST"; url, body, query parameters and the
   * response are WEIR_ERR_UNAVAILABLE, and so are setters other than the message ones. */
  WeirStatus (*on_grpc_message)(void *instance, const WeirHostApi *host, WeirCtx *ctx,
                                WeirStr hook_name, uint32_t direction, WeirStr method_path,
                                WeirStr message);
} WeirPluginV1;

/* What a plugin defines (declared here so the compiler checks the definitions). */
WEIR_EXPORT extern const uint32_t weir_plugin_abi_version;
WEIR_EXPORT const WeirPluginV1 *weir_plugin_v1(void);

#ifdef __cplusplus
}
#endif

#endif /* WEIR_PLUGIN_H */
