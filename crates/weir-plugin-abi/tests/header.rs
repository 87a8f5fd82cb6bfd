//! Checks that `include/weir_plugin.h` and the Rust types agree: a C program built with gcc
//! prints every size, offset and constant the header defines, and the test compares them with
//! what Rust computes for the same names.

use std::fmt::Write as _;
use std::mem::{offset_of, size_of};
use std::path::Path;
use std::process::Command;

use weir_plugin_abi::*;

/// `(C expression, value Rust computes)` for every struct's size and every field's offset.
macro_rules! layout {
    ($out:ident, $ty:ident { $($field:ident),* $(,)? }) => {
        $out.push((format!("sizeof({})", stringify!($ty)), size_of::<$ty>() as i64));
        $(
            $out.push((
                format!("offsetof({}, {})", stringify!($ty), stringify!($field)),
                offset_of!($ty, $field) as i64,
            ));
        )*
    };
}

/// `(C expression, value)` for constants.
macro_rules! constants {
    ($out:ident, $($name:ident),* $(,)?) => {
        $( $out.push((stringify!($name).to_string(), $name as i64)); )*
    };
}

fn expected() -> Vec<(String, i64)> {
    let mut out = Vec::new();
    layout!(out, WeirStr { ptr, len });
    layout!(out, WeirErrorBuf { ptr, cap, len });
    layout!(
        out,
        WeirHostApi {
            abi_version,
            struct_size,
            get_method,
            set_method,
            get_url,
            set_url,
            get_request_uri,
            get_scheme,
            get_request_header,
            set_request_header,
            delete_request_header,
            get_request_body,
            set_request_body,
            get_query_param,
            set_query_param,
            delete_query_param,
            get_response_status,
            set_response_status,
            get_response_header,
            set_response_header,
            delete_response_header,
            get_response_body,
            set_response_body,
            set_return_override,
            add_override_header,
            get_metadata,
            set_metadata,
            get_session_json,
            set_session_json,
            get_config_data,
            log,
            set_error,
            set_grpc_message,
            set_grpc_status,
            get_grpc_message_index,
            count,
        }
    );
    layout!(
        out,
        WeirPluginV1 {
            abi_version,
            struct_size,
            name,
            init,
            call,
            drop,
            on_grpc_message,
        }
    );
    constants!(
        out,
        WEIR_PLUGIN_ABI_VERSION,
        WEIR_OK,
        WEIR_NOT_FOUND,
        WEIR_ERR_INVALID,
        WEIR_ERR_UNAVAILABLE,
        WEIR_ERR_HOOK,
        WEIR_ERR_PANIC,
        WEIR_ERR_ABI,
        WEIR_ERR_INTERNAL,
        WEIR_GRPC_DROP,
        WEIR_GRPC_END,
        WEIR_HOOK_PRE,
        WEIR_HOOK_POST,
        WEIR_HOOK_POST_KEY_AUTH,
        WEIR_HOOK_AUTH_CHECK,
        WEIR_HOOK_RESPONSE,
        WEIR_LOG_TRACE,
        WEIR_LOG_DEBUG,
        WEIR_LOG_INFO,
        WEIR_LOG_WARN,
        WEIR_LOG_ERROR,
        WEIR_GRPC_CLIENT_TO_SERVER,
        WEIR_GRPC_SERVER_TO_CLIENT,
    );
    // WEIR_HOST_HAS against a first version-1 table (`base`), one from before `count`
    // (`stream`) and a current one (`full`).
    let base = HOST_API_BASE_SIZE as u32;
    let stream = HOST_API_STREAM_SIZE as u32;
    let full = size_of::<WeirHostApi>() as u32;
    let has = |size: u32, offset: usize| host_api_has(size, offset, size_of::<usize>()) as i64;
    for (table, size) in [("base", base), ("stream", stream), ("full", full)] {
        for (field, offset) in [
            (
                "set_grpc_message",
                offset_of!(WeirHostApi, set_grpc_message),
            ),
            ("set_grpc_status", offset_of!(WeirHostApi, set_grpc_status)),
            (
                "get_grpc_message_index",
                offset_of!(WeirHostApi, get_grpc_message_index),
            ),
            ("count", offset_of!(WeirHostApi, count)),
        ] {
            out.push((
                format!("WEIR_HOST_HAS(&{table}, {field})"),
                has(size, offset),
            ));
        }
    }
    out
}

/// Declarations the expressions above use: host tables of the three sizes.
fn preamble() -> String {
    format!(
        "  WeirHostApi base, stream, full;\n  memset(&base, 0, sizeof base);\n  \
         memset(&stream, 0, sizeof stream);\n  memset(&full, 0, sizeof full);\n  \
         base.struct_size = {};\n  stream.struct_size = {};\n  \
         full.struct_size = sizeof(WeirHostApi);\n",
        HOST_API_BASE_SIZE, HOST_API_STREAM_SIZE
    )
}

#[test]
fn header_matches_rust_types() {
    let expected = expected();
    let mut c = String::from(
        "#include <stdio.h>\n#include <stddef.h>\n#include <string.h>\n#include \"weir_plugin.h\"\n\
         int main(void) {\n",
    );
    c.push_str(&preamble());
    for (expr, _) in &expected {
        writeln!(c, "  printf(\"%lld\\n\", (long long)({expr}));").unwrap();
    }
    c.push_str("  return 0;\n}\n");

    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("weir-plugin-abi-header");
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("layout.c");
    let exe = dir.join("layout");
    std::fs::write(&src, c).unwrap();
    let include = Path::new(env!("CARGO_MANIFEST_DIR")).join("include");
    let cc = Command::new("gcc")
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic", "-I"])
        .arg(&include)
        .arg(&src)
        .arg("-o")
        .arg(&exe)
        .output()
        .expect("gcc must be installed (scripts/setup-native-plugins.sh)");
    assert!(
        cc.status.success(),
        "gcc failed on weir_plugin.h:\n{}",
        String::from_utf8_lossy(&cc.stderr)
    );
    let run = Command::new(&exe).output().unwrap();
    assert!(run.status.success());
    let got: Vec<i64> = String::from_utf8(run.stdout)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(got.len(), expected.len());
    let mismatches: Vec<String> = expected
        .iter()
        .zip(&got)
        .filter(|((_, rust), c)| rust != *c)
        .map(|((expr, rust), c)| format!("{expr}: Rust {rust}, C {c}"))
        .collect();
    assert!(
        mismatches.is_empty(),
        "header and Rust disagree: {mismatches:#?}"
    );
}

#[test]
fn the_first_host_table_ends_before_the_stream_functions() {
    // Fields up to set_grpc_message are the original version-1 table; nothing moved.
    assert_eq!(
        HOST_API_BASE_SIZE,
        offset_of!(WeirHostApi, set_grpc_message) + size_of::<usize>()
    );
    assert!(!host_api_has(
        HOST_API_BASE_SIZE as u32,
        offset_of!(WeirHostApi, set_grpc_status),
        size_of::<usize>()
    ));
}

#[test]
fn the_stream_host_table_ends_before_count() {
    // Hosts with stream hooks but from before plugin counters end at get_grpc_message_index.
    assert_eq!(
        HOST_API_STREAM_SIZE,
        offset_of!(WeirHostApi, get_grpc_message_index) + size_of::<usize>()
    );
    assert_eq!(
        HOST_API_STREAM_SIZE + size_of::<usize>(),
        size_of::<WeirHostApi>()
    );
    let count = offset_of!(WeirHostApi, count);
    assert!(!host_api_has(
        HOST_API_STREAM_SIZE as u32,
        count,
        size_of::<usize>()
    ));
    assert!(host_api_has(
        size_of::<WeirHostApi>() as u32,
        count,
        size_of::<usize>()
    ));
}

#[test]
fn weir_str_views_bytes() {
    let s = WeirStr::from_text("abc");
    assert_eq!(unsafe { s.as_bytes() }, b"abc");
    assert_eq!(unsafe { WeirStr::EMPTY.as_bytes() }, b"");
}
