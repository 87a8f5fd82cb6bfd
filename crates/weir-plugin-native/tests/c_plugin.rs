//! C plugins built with gcc: the example's header hook, load refusals (ABI version mismatch,
//! Go-built libraries, libraries that are not plugins) and reload with a changed library.

mod common;

use weir_core::plugin::{Driver, HookKind};
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
