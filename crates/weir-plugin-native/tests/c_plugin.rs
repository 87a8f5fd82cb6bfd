//! C plugins built with gcc: the example's header hook, the stream example and a probe of what
//! stream hooks may do, load refusals (ABI version mismatch, Go-built libraries, libraries that
//! are not plugins) and reload with a changed library.

mod common;

use weir_core::plugin::{Driver, HookKind, MessageDirection, MessageVerdict, PluginError};
use weir_plugin_native::NativeDriver;

use common::*;

#[test]
fn the_c_example_sets_a_header_from_config_data() {
    let lib = c_example("header_plugin", "1");
    let plugin = NativeDriver::new()
        .load(&spec(&[(HookKind::Pre, "AddHeader", &lib)]))
        .unwrap();
    let mut c = ctx(HookKind::Pre, "AddHeader");
    call(&*plugin, &mut c).unwrap();
    assert_eq!(header(&c, "x-hello"), Some("from config"));
    assert_eq!(header(&c, "x-plugin-build"), Some("1"));
}

#[test]
fn the_c_example_reports_a_missing_config() {
    let lib = c_example("header_plugin_noconfig", "1");
    let spec = spec_with_config(&[(HookKind::Pre, "AddHeader", &lib)], "null");
    let err = NativeDriver::new()
        .load(&spec)
        .err()
        .expect("load must fail");
    assert!(err.contains(&lib.display().to_string()), "{err}");
    assert!(err.contains("native-c-example"), "{err}");
    assert!(err.contains("config_data needs string fields"), "{err}");
}

/// A library exporting `weir_plugin_abi_version = 99`; its descriptor function aborts, so the
/// test process dies if the host calls anything past the version check.
const ABI_99: &str = r#"
#include <stdlib.h>
#include "weir_plugin.h"
WEIR_EXPORT const uint32_t weir_plugin_abi_version = 99;
WEIR_EXPORT const WeirPluginV1 *weir_plugin_v1(void) { abort(); }
"#;

#[test]
fn an_abi_version_mismatch_fails_the_load_naming_file_and_versions() {
    let lib = c_fixture("abi_99", ABI_99);
    let err = NativeDriver::new()
        .load(&spec(&[(HookKind::Pre, "AddHeader", &lib)]))
        .err()
        .expect("load must fail");
    assert!(err.contains(&lib.display().to_string()), "{err}");
    assert!(err.contains("ABI version 99"), "{err}");
    assert!(err.contains("speaks ABI version 1"), "{err}");
}

/// A descriptor that claims version 1 but is smaller than version 1's.
const SHORT_DESCRIPTOR: &str = r#"
#include "weir_plugin.h"
WEIR_EXPORT const uint32_t weir_plugin_abi_version = WEIR_PLUGIN_ABI_VERSION;
static const uint32_t SHORT[2] = { WEIR_PLUGIN_ABI_VERSION, 8 };
WEIR_EXPORT const WeirPluginV1 *weir_plugin_v1(void) { return (const WeirPluginV1 *)SHORT; }
"#;

#[test]
fn a_short_descriptor_fails_the_load() {
    let lib = c_fixture("short_descriptor", SHORT_DESCRIPTOR);
    let err = NativeDriver::new()
        .load(&spec(&[(HookKind::Pre, "AddHeader", &lib)]))
        .err()
        .expect("load must fail");
    assert!(err.contains(&lib.display().to_string()), "{err}");
    assert!(err.contains("descriptor is 8 bytes"), "{err}");
}

#[test]
fn a_library_that_is_not_a_plugin_fails_the_load() {
    let lib = c_fixture("not_a_plugin", "int not_a_plugin(void) { return 1; }\n");
    let err = NativeDriver::new()
        .load(&spec(&[(HookKind::Pre, "AddHeader", &lib)]))
        .err()
        .expect("load must fail");
    assert!(err.contains(&lib.display().to_string()), "{err}");
    assert!(
        err.contains("does not export `weir_plugin_abi_version`"),
        "{err}"
    );

    let missing = out_dir().join("does-not-exist.so");
    let err = NativeDriver::new()
        .load(&spec(&[(HookKind::Pre, "AddHeader", &missing)]))
        .err()
        .expect("load must fail");
    assert!(
        err.contains("does-not-exist.so") && err.contains("cannot read it"),
        "{err}"
    );
}

/// Fakes of Go-built libraries. Each aborts in a constructor, so the test process dies if the
/// driver ever opens one instead of refusing it from the file alone.
const GO_CGO_SYMBOL: &str = r#"
#include <stdlib.h>
__attribute__((constructor)) static void opened(void) { abort(); }
__attribute__((visibility("default"))) void _cgo_init(void) {}
"#;
const GO_BUILDINFO_SECTION: &str = r#"
#include <stdlib.h>
__attribute__((constructor)) static void opened(void) { abort(); }
__attribute__((used, section(".go.buildinfo"))) static const char buildinfo[] = "\xff Go buildinf:";
"#;

#[test]
fn go_built_libraries_are_refused_without_being_opened() {
    for (name, code, marker) in [
        ("fake_go_cgo", GO_CGO_SYMBOL, "symbol `_cgo_init`"),
        (
            "fake_go_buildinfo",
            GO_BUILDINFO_SECTION,
            "section `.go.buildinfo`",
        ),
    ] {
        let lib = c_fixture(name, code);
        let mut spec = spec(&[(HookKind::Pre, "MyInit", &lib)]);
        spec.driver = "goplugin".into();
        let err = NativeDriver::new()
            .load(&spec)
            .err()
            .expect("load must fail");
        assert!(err.contains(&lib.display().to_string()), "{err}");
        assert!(
            err.contains(&format!("was built by Go ({marker})")),
            "{err}"
        );
        assert!(err.contains("cannot host Go-built"), "{err}");
        assert!(err.contains("gRPC"), "{err}");
    }
}

/// Distinct private copies of `stem` mapped into this process.
#[cfg(target_os = "linux")]
fn mapped_copies(stem: &str) -> std::collections::BTreeSet<String> {
    let prefix = format!("weir-native-{stem}-");
    std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .filter(|path| path.contains(&prefix))
        .map(str::to_owned)
        .collect()
}

#[test]
fn reload_with_a_changed_library_serves_new_code_while_old_loads_finish() {
    let driver = NativeDriver::new();
    let lib = c_example("reload_plugin", "1");
    let hooks = [(HookKind::Pre, "AddHeader", lib.as_path())];
    let old = driver.load(&spec(&hooks)).unwrap();

    // Same path, new content: rebuilt while the old code is loaded.
    assert_eq!(c_example("reload_plugin", "2"), lib);
    let new = driver.load(&spec(&hooks)).unwrap();
    // Unchanged content shares the library already open.
    let same = driver.load(&spec(&hooks)).unwrap();

    let build = |plugin: &dyn weir_core::plugin::LoadedPlugin| {
        let mut c = ctx(HookKind::Pre, "AddHeader");
        call(plugin, &mut c).unwrap();
        header(&c, "x-plugin-build").unwrap().to_owned()
    };
    assert_eq!(build(&*old), "1");
    assert_eq!(build(&*new), "2");
    assert_eq!(build(&*same), "2");

    #[cfg(target_os = "linux")]
    let copies = mapped_copies("reload_plugin");
    #[cfg(target_os = "linux")]
    assert_eq!(copies.len(), 2, "{copies:?}");

    // The old load still answers until its last user drops it; then it is closed.
    assert_eq!(build(&*old), "1");
    drop(old);
    assert_eq!(build(&*new), "2");
    #[cfg(target_os = "linux")]
    {
        let left = mapped_copies("reload_plugin");
        assert_eq!(left.len(), 1, "{left:?}");
        let closed = copies.difference(&left).next().unwrap();
        assert!(
            !std::path::Path::new(closed).exists(),
            "{closed} was not deleted"
        );
    }
    drop(new);
    assert_eq!(build(&*same), "2");
    drop(same);
    #[cfg(target_os = "linux")]
    assert!(mapped_copies("reload_plugin").is_empty());
}

fn stream_filter() -> std::sync::Arc<dyn weir_core::plugin::LoadedPlugin> {
    let lib = c_stream_example("stream_filter");
    NativeDriver::new()
        .load(&spec(&[(HookKind::GrpcMessage, "Filter", &lib)]))
        .unwrap()
}

#[test]
fn the_c_stream_example_drops_ends_replaces_and_passes() {
    let plugin = stream_filter();
    let msg = |method: &str, payload: &[u8]| {
        message("Filter", MessageDirection::FromUpstream, method, payload)
    };

    let mut zero = msg("/demo.Text/Upper", b"\x00abc");
    assert_eq!(
        on_message(&*plugin, &mut zero).unwrap(),
        MessageVerdict::Drop
    );

    let mut stop = with_header(msg("/demo.Text/Echo", b"\x0aabc"), "x-stop", "maintenance");
    assert_eq!(
        on_message(&*plugin, &mut stop).unwrap(),
        MessageVerdict::End {
            code: 9,
            message: "stopped: maintenance".into()
        }
    );

    let mut upper = msg("/demo.Text/Upper", b"\x0ahello, World");
    assert_eq!(
        on_message(&*plugin, &mut upper).unwrap(),
        MessageVerdict::Pass
    );
    assert_eq!(&upper.payload[..], b"\x0aHELLO, WORLD");

    let mut other = msg("/demo.Text/Echo", b"\x0ahello");
    let before = other.payload.clone();
    assert_eq!(
        on_message(&*plugin, &mut other).unwrap(),
        MessageVerdict::Pass
    );
    assert_eq!(other.payload.as_ptr(), before.as_ptr());

    // Declared under another name: the plugin says it has no such hook.
    let lib = c_stream_example("stream_filter_other");
    let plugin = NativeDriver::new()
        .load(&spec(&[(HookKind::GrpcMessage, "Other", &lib)]))
        .unwrap();
    let mut unknown = message("Other", MessageDirection::ToUpstream, "/a.B/C", b"x");
    let err = on_message(&*plugin, &mut unknown).unwrap_err();
    assert!(
        err.to_string().contains("only the stream hook Filter"),
        "{err}"
    );
}

/// A stream hook that probes what the host allows during a message, and a pre hook that tries
/// the message functions outside one. Results are reported in the replacement message (stream)
/// or in the `x-result` header (pre): `<function>=<status>` pairs.
const PROBE: &str = r#"
#include <stdio.h>
#include <string.h>
#include "weir_plugin.h"
static int INSTANCE;
static void *probe_init(const WeirHostApi *h, WeirStr c, WeirErrorBuf *e) {
  (void)h; (void)c; (void)e; return &INSTANCE;
}
static WeirStatus probe_call(void *i, const WeirHostApi *h, WeirCtx *ctx, uint32_t k, WeirStr n) {
  (void)i; (void)k; (void)n;
  uint64_t index = 0;
  char out[128];
  int len = snprintf(out, sizeof out, "set_grpc_message=%d set_grpc_status=%d index=%d",
      h->set_grpc_message(ctx, WEIR_STR("x")), h->set_grpc_status(ctx, 0, WEIR_STR("")),
      h->get_grpc_message_index(ctx, &index));
  WeirStr v = {(const uint8_t *)out, (size_t)len};
  return h->set_request_header(ctx, WEIR_STR("x-result"), v);
}
static void probe_drop(void *i) { (void)i; }
static WeirStatus probe_message(void *i, const WeirHostApi *h, WeirCtx *ctx, WeirStr name,
                                uint32_t dir, WeirStr method, WeirStr msg) {
  (void)i; (void)dir; (void)method; (void)msg;
  if (name.len == 11 && memcmp(name.ptr, "EndNoStatus", 11) == 0) return WEIR_GRPC_END;
  if (name.len == 4 && memcmp(name.ptr, "Fail", 4) == 0) {
    h->set_error(ctx, WEIR_STR("probe failed on purpose"));
    return WEIR_ERR_HOOK;
  }
  WeirStr s;
  uint64_t index = 0;
  int32_t status = 0;
  /* C leaves the order of arguments open: read the index before printing it. */
  WeirStatus got_index = h->get_grpc_message_index(ctx, &index);
  char out[512];
  int len = snprintf(out, sizeof out,
      "method=%d url=%d body=%d param=%d response=%d set_header=%d set_session=%d "
      "set_metadata=%d override=%d header=%d metadata=%d config=%d session=%d "
      "status17=%d index=%d:%llu",
      h->get_method(ctx, &s), h->get_url(ctx, &s), h->get_request_body(ctx, &s),
      h->get_query_param(ctx, WEIR_STR("q"), &s), h->get_response_status(ctx, &status),
      h->set_request_header(ctx, WEIR_STR("x-a"), WEIR_STR("b")),
      h->set_session_json(ctx, WEIR_STR("null")),
      h->set_metadata(ctx, WEIR_STR("k"), WEIR_STR("v")),
      h->set_return_override(ctx, 403, WEIR_STR("no"), 0),
      h->get_request_header(ctx, WEIR_STR("x-tag"), &s),
      h->get_metadata(ctx, WEIR_STR("token"), &s), h->get_config_data(ctx, &s),
      h->get_session_json(ctx, &s), h->set_grpc_status(ctx, 17, WEIR_STR("")),
      got_index, (unsigned long long)index);
  WeirStr v = {(const uint8_t *)out, (size_t)len};
  return h->set_grpc_message(ctx, v);
}
static const WeirPluginV1 D = {WEIR_PLUGIN_ABI_VERSION, sizeof(WeirPluginV1),
  {(const uint8_t *)"probe", 5}, probe_init, probe_call, probe_drop, probe_message};
WEIR_EXPORT const uint32_t weir_plugin_abi_version = WEIR_PLUGIN_ABI_VERSION;
WEIR_EXPORT const WeirPluginV1 *weir_plugin_v1(void) { return &D; }
"#;

#[test]
fn during_a_message_the_request_is_read_only() {
    let lib = c_fixture("stream_probe", PROBE);
    let plugin = NativeDriver::new()
        .load(&spec(&[(HookKind::GrpcMessage, "Probe", &lib)]))
        .unwrap();
    let mut msg = message("Probe", MessageDirection::ToUpstream, "/a.B/C", b"m");
    msg.index = 7;
    let mut msg = with_header(msg, "x-tag", "t");
    assert_eq!(
        on_message(&*plugin, &mut msg).unwrap(),
        MessageVerdict::Pass
    );
    // OK = 0, NOT_FOUND = 1, INVALID = -1, UNAVAILABLE = -2.
    assert_eq!(
        String::from_utf8_lossy(&msg.payload),
        "method=0 url=-2 body=-2 param=-2 response=-2 set_header=-2 set_session=-2 \
         set_metadata=-2 override=-2 header=0 metadata=1 config=0 session=1 status17=-1 \
         index=0:7"
    );
}

#[test]
fn message_functions_are_unavailable_in_request_hooks() {
    let lib = c_fixture("stream_probe_pre", PROBE);
    let plugin = NativeDriver::new()
        .load(&spec(&[(HookKind::Pre, "Probe", &lib)]))
        .unwrap();
    let mut c = ctx(HookKind::Pre, "Probe");
    call(&*plugin, &mut c).unwrap();
    assert_eq!(
        header(&c, "x-result"),
        Some("set_grpc_message=-2 set_grpc_status=-2 index=-2")
    );
}

#[test]
fn ending_without_a_status_or_failing_is_an_error_for_that_message() {
    let lib = c_fixture("stream_probe_errors", PROBE);
    let plugin = NativeDriver::new()
        .load(&spec(&[
            (HookKind::GrpcMessage, "EndNoStatus", &lib),
            (HookKind::GrpcMessage, "Fail", &lib),
        ]))
        .unwrap();
    let mut msg = message("EndNoStatus", MessageDirection::ToUpstream, "/a.B/C", b"m");
    let err = on_message(&*plugin, &mut msg).unwrap_err();
    assert!(
        matches!(&err, PluginError::BadReply { reason, .. } if reason.contains("without calling set_grpc_status")),
        "{err:?}"
    );
    let mut msg = message("Fail", MessageDirection::ToUpstream, "/a.B/C", b"m");
    assert_eq!(
        on_message(&*plugin, &mut msg).unwrap_err(),
        PluginError::Crashed {
            hook: "Fail".into(),
            reason: "the hook failed: probe failed on purpose".into()
        }
    );
}
