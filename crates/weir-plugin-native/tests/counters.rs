//! The host's `count` function: a C plugin counts from a request hook and a stream hook, and the
//! counts land in weir-core's process-wide plugin counters under the call's API id.

mod common;

use std::sync::Arc;

use weir_core::plugin::{
    ApiSpecInfo, Driver, HookKind, MessageDirection, MessageVerdict, plugin_counter,
};
use weir_plugin_native::NativeDriver;

use common::*;

/// Counts `seen` by the message's length, and answers with what `count` returned for a few
/// names (valid, empty, too long, bad characters) as the replacement message.
const COUNTING_PLUGIN: &str = r#"
#include <string.h>
#include <stdio.h>
#include "weir_plugin.h"

WEIR_EXPORT const uint32_t weir_plugin_abi_version = WEIR_PLUGIN_ABI_VERSION;

static void *init(const WeirHostApi *host, WeirStr config, WeirErrorBuf *err) {
  (void)host; (void)config; (void)err;
  static int instance;
  return &instance;
}

static WeirStatus call(void *instance, const WeirHostApi *host, WeirCtx *ctx,
                       uint32_t kind, WeirStr name) {
  (void)instance; (void)kind; (void)name;
  if (!WEIR_HOST_HAS(host, count)) return WEIR_ERR_ABI;
  return host->count(ctx, WEIR_STR("requests"), 1);
}

static void drop(void *instance) { (void)instance; }

static WeirStatus on_message(void *instance, const WeirHostApi *host, WeirCtx *ctx,
                             WeirStr hook, uint32_t direction, WeirStr method, WeirStr message) {
  (void)instance; (void)hook; (void)direction; (void)method;
  if (!WEIR_HOST_HAS(host, count)) return WEIR_ERR_ABI;
  char long_name[80];
  memset(long_name, 'x', sizeof long_name);
  WeirStr too_long = {(const uint8_t *)long_name, 65};
  WeirStr max_len = {(const uint8_t *)long_name, 64};
  char out[64];
  int n = snprintf(out, sizeof out, "%d %d %d %d %d %d",
                   host->count(ctx, WEIR_STR("seen"), message.len),
                   host->count(ctx, WEIR_STR("zero.ok:-_1"), 0),
                   host->count(ctx, WEIR_STR(""), 1),
                   host->count(ctx, too_long, 1),
                   host->count(ctx, max_len, 1),
                   host->count(ctx, WEIR_STR("bad name"), 1));
  WeirStr reply = {(const uint8_t *)out, (size_t)n};
  return host->set_grpc_message(ctx, reply);
}

static const WeirPluginV1 DESCRIPTOR = {
  WEIR_PLUGIN_ABI_VERSION, sizeof(WeirPluginV1), {(const uint8_t *)"counting", 8},
  init, call, drop, on_message,
};

WEIR_EXPORT const WeirPluginV1 *weir_plugin_v1(void) { return &DESCRIPTOR; }
"#;

#[test]
fn count_adds_to_the_apis_plugin_counters() {
    let lib = c_fixture("counting", COUNTING_PLUGIN);
    let mut spec = spec(&[
        (HookKind::Pre, "Count", &lib),
        (HookKind::GrpcMessage, "Count", &lib),
    ]);
    let api = Arc::new(ApiSpecInfo {
        api_id: "native-counters-test".into(),
        ..ApiSpecInfo::default()
    });
    spec.api = api.clone();
    let plugin = NativeDriver::new().load(&spec).unwrap();

    let mut ctx = ctx(HookKind::Pre, "Count");
    ctx.spec = api.clone();
    call(&*plugin, &mut ctx).unwrap();
    call(&*plugin, &mut ctx).unwrap();
    assert_eq!(plugin_counter("native-counters-test", "requests"), Some(2));

    let mut msg = message("Count", MessageDirection::FromUpstream, "/a.B/C", b"12345");
    msg.spec = api;
    assert_eq!(
        on_message(&*plugin, &mut msg).unwrap(),
        MessageVerdict::Pass
    );
    // valid, zero, empty, 65 bytes, 64 bytes, a space: WEIR_OK is 0, WEIR_ERR_INVALID -1.
    assert_eq!(&msg.payload[..], b"0 0 -1 -1 0 -1");
    assert_eq!(plugin_counter("native-counters-test", "seen"), Some(5));
    assert_eq!(
        plugin_counter("native-counters-test", "zero.ok:-_1"),
        Some(0)
    );
    assert_eq!(
        plugin_counter("native-counters-test", &"x".repeat(64)),
        Some(1)
    );
    assert_eq!(plugin_counter("native-counters-test", ""), None);
    assert_eq!(plugin_counter("native-counters-test", "bad name"), None);
}
