/*
 * An example Weir native plugin in C: the pre (or post) hook "AddHeader" sets the request
 * header config_data.header_name to config_data.header_value, and X-Plugin-Build to the
 * build label (-DWEIR_EXAMPLE_BUILD='"2"' to change it).
 *
 * Build:
 *   gcc -shared -fPIC -O2 -I ../../../crates/weir-plugin-abi/include header_plugin.c \
 *       -o libheader_plugin.so
 *
 * API definition:
 *   "custom_middleware": { "driver": "native",
 *     "pre": [{ "name": "AddHeader", "path": "/path/to/libheader_plugin.so" }] },
 *   "config_data": { "header_name": "X-Hello", "header_value": "from C" }
 */
#include <stdlib.h>
#include <string.h>

#include "weir_plugin.h"

#ifndef WEIR_EXAMPLE_BUILD
#define WEIR_EXAMPLE_BUILD "1"
#endif

typedef struct Config {
  char name[128];
  char value[512];
} Config;

/* Finds "key": "value" in flat JSON. Naive (no escapes), enough for this example's config;
 * a real plugin would use a JSON library. Returns 1 when found and it fits. */
static int json_string_field(const uint8_t *json, size_t len, const char *key, char *out,
                             size_t cap) {
  size_t klen = strlen(key);
  for (size_t i = 0; i + klen + 2 <= len; i++) {
    if (json[i] != '"' || memcmp(json + i + 1, key, klen) != 0 || json[i + 1 + klen] != '"')
      continue;
    size_t j = i + klen + 2;
    while (j < len && (json[j] == ' ' || json[j] == ':')) j++;
    if (j >= len || json[j] != '"') return 0;
    size_t start = ++j;
    while (j < len && json[j] != '"') j++;
    if (j >= len || j - start >= cap) return 0;
    memcpy(out, json + start, j - start);
    out[j - start] = '\0';
    return 1;
  }
  return 0;
}

static void fail(WeirErrorBuf *err, const char *msg) {
  size_t n = strlen(msg);
  if (n > err->cap) n = err->cap;
  memcpy(err->ptr, msg, n);
  err->len = n;
}

static WeirStr str(const char *s) {
  WeirStr w = {(const uint8_t *)s, strlen(s)};
  return w;
}

static void *example_init(const WeirHostApi *host, WeirStr config, WeirErrorBuf *err) {
  (void)host;
  Config *c = calloc(1, sizeof *c);
  if (c == NULL) {
    fail(err, "out of memory");
    return NULL;
  }
  if (!json_string_field(config.ptr, config.len, "header_name", c->name, sizeof c->name) ||
      !json_string_field(config.ptr, config.len, "header_value", c->value, sizeof c->value)) {
    free(c);
    fail(err, "config_data needs string fields header_name and header_value");
    return NULL;
  }
  return c;
}

static WeirStatus example_call(void *instance, const WeirHostApi *host, WeirCtx *ctx,
                               uint32_t hook_kind, WeirStr hook_name) {
  const Config *c = instance;
  /* This plugin calls only the first version-1 functions: any version-1 table has them. */
  if (!WEIR_HOST_HAS(host, set_error)) return WEIR_ERR_ABI;
  int add_header = hook_name.len == 9 && memcmp(hook_name.ptr, "AddHeader", 9) == 0;
  if (add_header && (hook_kind == WEIR_HOOK_PRE || hook_kind == WEIR_HOOK_POST)) {
    if (host->set_request_header(ctx, str(c->name), str(c->value)) != WEIR_OK ||
        host->set_request_header(ctx, WEIR_STR("x-plugin-build"), WEIR_STR(WEIR_EXAMPLE_BUILD)) !=
            WEIR_OK) {
      host->set_error(ctx, WEIR_STR("the host refused the header"));
      return WEIR_ERR_HOOK;
    }
    return WEIR_OK;
  }
  host->set_error(ctx, WEIR_STR("native-c-example has only the pre/post hook AddHeader"));
  return WEIR_ERR_HOOK;
}

static void example_drop(void *instance) { free(instance); }

static const WeirPluginV1 DESCRIPTOR = {
    WEIR_PLUGIN_ABI_VERSION,
    sizeof(WeirPluginV1),
    {(const uint8_t *)"native-c-example", sizeof("native-c-example") - 1},
    example_init,
    example_call,
    example_drop,
    NULL, /* on_grpc_message: no stream hooks (see stream_filter.c for one) */
};

WEIR_EXPORT const uint32_t weir_plugin_abi_version = WEIR_PLUGIN_ABI_VERSION;

WEIR_EXPORT const WeirPluginV1 *weir_plugin_v1(void) { return &DESCRIPTOR; }
