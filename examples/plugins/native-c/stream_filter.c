/*
 * An example Weir native stream plugin in C. Its stream hook "Filter" looks at each gRPC
 * message of a call:
 *   - a message whose first byte is 0x00 is dropped (a valid protobuf message never starts
 *     with a zero tag byte, so such a message is garbage);
 *   - when the request has an x-stop header, the call ends with FAILED_PRECONDITION (9) and
 *     the message "stopped: <header value>";
 *   - on a method whose name is "Upper" (e.g. /demo.Text/Upper) the message is replaced by
 *     its ASCII upper-cased copy;
 *   - anything else passes unchanged.
 *
 * Build:
 *   gcc -shared -fPIC -O2 -I ../../../crates/weir-plugin-abi/include stream_filter.c \
 *       -o libstream_filter.so
 *
 * API definition (classic; OAS: middleware.global.grpcMessagePlugins):
 *   "custom_middleware": { "driver": "native",
 *     "driver_specific_middleware": { "native_streams": [
 *       { "symbol_name": "Filter", "path": "/path/to/libstream_filter.so" }] } }
 */
#include <stdlib.h>
#include <string.h>

#include "weir_plugin.h"

static int is(WeirStr s, const char *lit) {
  size_t n = strlen(lit);
  return s.len == n && memcmp(s.ptr, lit, n) == 0;
}

/* True when the path /package.Service/Method ends in "/Upper". */
static int method_is_upper(WeirStr path) {
  return path.len >= 6 && memcmp(path.ptr + path.len - 6, "/Upper", 6) == 0;
}

static WeirStatus fail(const WeirHostApi *host, WeirCtx *ctx, WeirStr why) {
  host->set_error(ctx, why);
  return WEIR_ERR_HOOK;
}

static WeirStatus filter(const WeirHostApi *host, WeirCtx *ctx, WeirStr method,
                         WeirStr message) {
  if (message.len > 0 && message.ptr[0] == 0x00) return WEIR_GRPC_DROP;

  WeirStr stop;
  if (host->get_request_header(ctx, WEIR_STR("x-stop"), &stop) == WEIR_OK) {
    /* The header value lives only until the next host call: copy it into the status text. */
    char text[256] = "stopped: ";
    size_t prefix = strlen(text), n = stop.len;
    if (n > sizeof text - prefix) n = sizeof text - prefix;
    memcpy(text + prefix, stop.ptr, n);
    WeirStr status = {(const uint8_t *)text, prefix + n};
    if (host->set_grpc_status(ctx, 9, status) != WEIR_OK)
      return fail(host, ctx, WEIR_STR("the host refused the status"));
    return WEIR_GRPC_END;
  }

  if (method_is_upper(method)) {
    uint8_t *upper = malloc(message.len + 1);
    if (upper == NULL) return fail(host, ctx, WEIR_STR("out of memory"));
    for (size_t i = 0; i < message.len; i++) {
      uint8_t c = message.ptr[i];
      upper[i] = (c >= 'a' && c <= 'z') ? (uint8_t)(c - 'a' + 'A') : c;
    }
    WeirStr replaced = {upper, message.len};
    WeirStatus status = host->set_grpc_message(ctx, replaced); /* the host copies it */
    free(upper);
    return status == WEIR_OK ? WEIR_OK : fail(host, ctx, WEIR_STR("the host refused the message"));
  }
  return WEIR_OK;
}

static WeirStatus on_message(void *instance, const WeirHostApi *host, WeirCtx *ctx,
                             WeirStr hook_name, uint32_t direction, WeirStr method,
                             WeirStr message) {
  (void)instance;
  (void)direction;
  /* set_grpc_status was appended to version 1: make sure this host's table has it. */
  if (!WEIR_HOST_HAS(host, set_grpc_status)) return WEIR_ERR_ABI;
  if (is(hook_name, "Filter")) return filter(host, ctx, method, message);
  return fail(host, ctx, WEIR_STR("stream-filter has only the stream hook Filter"));
}

/* Stateless: any non-NULL pointer will do as the instance. */
static int INSTANCE;

static void *filter_init(const WeirHostApi *host, WeirStr config, WeirErrorBuf *err) {
  (void)host;
  (void)config;
  (void)err;
  return &INSTANCE;
}

static WeirStatus filter_call(void *instance, const WeirHostApi *host, WeirCtx *ctx,
                              uint32_t hook_kind, WeirStr hook_name) {
  (void)instance;
  (void)hook_kind;
  (void)hook_name;
  return fail(host, ctx, WEIR_STR("stream-filter has no request hooks"));
}

static void filter_drop(void *instance) { (void)instance; }

static const WeirPluginV1 DESCRIPTOR = {
    WEIR_PLUGIN_ABI_VERSION,
    sizeof(WeirPluginV1),
    {(const uint8_t *)"native-c-stream-filter", sizeof("native-c-stream-filter") - 1},
    filter_init,
    filter_call,
    filter_drop,
    on_message,
};

WEIR_EXPORT const uint32_t weir_plugin_abi_version = WEIR_PLUGIN_ABI_VERSION;

WEIR_EXPORT const WeirPluginV1 *weir_plugin_v1(void) { return &DESCRIPTOR; }
