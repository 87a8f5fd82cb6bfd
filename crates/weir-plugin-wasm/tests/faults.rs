//! Faults stay in the call they happen in: traps, deadlines and memory blow-ups fail that
//! call with the right error, the instance is replaced, and the next call works. Also module
//! reloads.

mod common;

use std::time::{Duration, Instant};

use common::*;
use weir_core::plugin::{HookKind, LoadedPlugin, PluginError};
use weir_plugin_wasm::{WasmDriver, WasmOptions};

fn driver(deadline: Duration) -> WasmDriver {
    WasmDriver::new(WasmOptions {
        call_deadline: deadline,
        ..WasmOptions::default()
    })
    .unwrap()
}

async fn misbehave(p: &dyn LoadedPlugin, how: &str) -> Result<(), PluginError> {
    let mut ctx = request(HookKind::Pre, "m", &[("x-misbehave", how)], "");
    p.call(&mut ctx).await
}

async fn still_works(p: &dyn LoadedPlugin) {
    let mut ctx = request(HookKind::Pre, "m", &[("x-misbehave", "no")], "");
    p.call(&mut ctx)
        .await
        .expect("the call after a fault works");
    assert_eq!(header(&ctx, "x-misbehave-ok"), Some("1"));
}

#[tokio::test]
async fn a_panic_is_a_crash_and_the_next_call_works() {
    let d = driver(Duration::from_secs(1));
    let p = load(&d, &[(HookKind::Pre, "m", &wasm("misbehave"))], None);
    for _ in 0..2 {
        match misbehave(&*p, "panic").await {
            Err(PluginError::Crashed { hook, reason }) => {
                assert_eq!(hook, "m");
                assert!(reason.contains("wasm trap"), "{reason}");
                assert!(reason.contains("misbehave: asked to panic"), "{reason}");
            }
            other => panic!("expected Crashed, got {other:?}"),
        }
        still_works(&*p).await;
    }
}

#[tokio::test]
async fn an_infinite_loop_times_out_at_the_deadline_and_the_next_call_works() {
    let deadline = Duration::from_millis(200);
    let d = driver(deadline);
    let p = load(&d, &[(HookKind::Pre, "m", &wasm("misbehave"))], None);
    for _ in 0..2 {
        let start = Instant::now();
        let r = misbehave(&*p, "loop").await;
        let took = start.elapsed();
        assert_eq!(
            r,
            Err(PluginError::Timeout {
                hook: "m".into(),
                limit: deadline
            })
        );
        assert!(
            took >= Duration::from_millis(150),
            "stopped too early: {took:?}"
        );
        assert!(
            took < Duration::from_millis(800),
            "stopped too late: {took:?}"
        );
        still_works(&*p).await;
    }
}

#[tokio::test]
async fn a_memory_blow_up_is_a_crash_and_the_next_call_works() {
    let d = WasmDriver::new(WasmOptions {
        memory_limit: 32 << 20,
        ..WasmOptions::default()
    })
    .unwrap();
    let p = load(&d, &[(HookKind::Pre, "m", &wasm("misbehave"))], None);
    match misbehave(&*p, "alloc").await {
        Err(PluginError::Crashed { reason, .. }) => {
            assert!(
                reason.contains("memory limit of 33554432 bytes exceeded"),
                "{reason}"
            );
        }
        other => panic!("expected Crashed, got {other:?}"),
    }
    still_works(&*p).await;
}

#[tokio::test]
async fn the_context_survives_a_crash_intact() {
    let d = driver(Duration::from_secs(1));
    let p = load(&d, &[(HookKind::Pre, "m", &wasm("misbehave"))], None);
    let mut ctx = request(
        HookKind::Pre,
        "m",
        &[("x-misbehave", "panic"), ("x-a", "1")],
        "body",
    );
    assert!(p.call(&mut ctx).await.is_err());
    assert_eq!(header(&ctx, "x-a"), Some("1"));
    assert_eq!(ctx.name, "m");
    assert_eq!(ctx.request.url, "/api/items?id=7");
    assert_eq!(ctx.request.body, "body");
}

#[tokio::test]
async fn reload_reuses_unchanged_modules_and_recompiles_changed_ones() {
    let d = driver(Duration::from_secs(1));
    let dir = std::env::temp_dir().join(format!("weir-wasm-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("filter.wasm");
    std::fs::copy(wasm("header_rewrite"), &file).unwrap();
    let config = Some(r#"{"add_headers": {"x-v": "2"}}"#);

    let first = load(&d, &[(HookKind::Pre, "f", &file)], config);
    assert_eq!(d.modules_compiled(), 1);
    let again = load(&d, &[(HookKind::Pre, "f", &file)], config);
    assert_eq!(
        d.modules_compiled(),
        1,
        "an unchanged file must not be recompiled"
    );
    let mut ctx = request(HookKind::Pre, "f", &[], "");
    again.call(&mut ctx).await.unwrap();
    assert_eq!(header(&ctx, "x-weir-wasm"), Some("header-rewrite"));

    std::fs::copy(wasm("config_driven"), &file).unwrap();
    let changed = load(&d, &[(HookKind::Pre, "f", &file)], config);
    assert_eq!(d.modules_compiled(), 2, "a changed file must be recompiled");
    let mut ctx = request(HookKind::Pre, "f", &[], "");
    changed.call(&mut ctx).await.unwrap();
    assert_eq!(header(&ctx, "x-v"), Some("2"));
    assert_eq!(header(&ctx, "x-weir-wasm"), None);

    // The earlier load keeps running the module it was loaded with.
    let mut ctx = request(HookKind::Pre, "f", &[], "");
    first.call(&mut ctx).await.unwrap();
    assert_eq!(header(&ctx, "x-weir-wasm"), Some("header-rewrite"));
    std::fs::remove_dir_all(dir).ok();
}
