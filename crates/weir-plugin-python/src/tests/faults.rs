//! Faults and limits: exceptions, deadlines, memory, load errors, the GIL, throughput.

use std::time::{Duration, Instant};

use weir_core::plugin::{Driver, HookKind, PluginError};

use super::{load, load_err, options, request, spec, write};
use crate::PythonDriver;

#[tokio::test]
async fn an_exception_fails_the_call_with_file_and_line_and_the_next_works() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "boom.py",
        "from tyk.decorators import *\n\n@Hook\ndef Boom(request, session, spec):\n    raise ValueError(\"kaput\")\n\n@Hook\ndef Fine(request, session, spec):\n    return request, session\n",
    );
    let plugin = load(
        options(1000, 1),
        &[(HookKind::Post, "Boom"), (HookKind::Post, "Fine")],
        &file,
    );
    let err = plugin
        .call(&mut request(HookKind::Post, "Boom"))
        .await
        .unwrap_err();
    match err {
        PluginError::Crashed { hook, reason } => {
            assert_eq!(hook, "Boom");
            assert!(reason.contains("boom.py:5: ValueError: kaput"), "{reason}");
        }
        other => panic!("expected Crashed, got {other:?}"),
    }
    plugin
        .call(&mut request(HookKind::Post, "Fine"))
        .await
        .unwrap();
}

#[tokio::test]
async fn an_endless_loop_is_cut_at_the_deadline_and_the_thread_serves_again() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "loop.py",
        r#"
from tyk.decorators import *

@Hook
def Spin(request, session, spec):
    while True:
        pass

@Hook
def Stubborn(request, session, spec):
    # Catching the interrupt once does not save it: it comes again.
    try:
        while True:
            pass
    except BaseException:
        while True:
            pass

@Hook
def Quick(request, session, spec):
    request.add_header("X-Quick", "1")
    return request, session
"#,
    );
    // One worker: the thread that looped must be the one that serves the next call.
    let plugin = load(
        options(200, 1),
        &[
            (HookKind::Pre, "Spin"),
            (HookKind::Pre, "Stubborn"),
            (HookKind::Pre, "Quick"),
        ],
        &file,
    );
    for name in ["Spin", "Stubborn"] {
        let started = Instant::now();
        let err = plugin
            .call(&mut request(HookKind::Pre, name))
            .await
            .unwrap_err();
        let took = started.elapsed();
        assert!(
            matches!(err, PluginError::Timeout { .. }),
            "{name}: {err:?}"
        );
        assert!(took >= Duration::from_millis(200), "{name}: {took:?}");
        assert!(took < Duration::from_millis(1000), "{name}: {took:?}");
        let mut ctx = request(HookKind::Pre, "Quick");
        plugin.call(&mut ctx).await.unwrap();
        assert_eq!(ctx.request.headers["x-quick"], "1");
    }
}

#[tokio::test]
async fn the_definition_timeout_overrides_the_driver_default() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "slow.py",
        "import time\ndef Slow(request, session, spec):\n    time.sleep(0.3)\n    return request, session\n",
    );
    let mut s = spec(&[(HookKind::Pre, "Slow")], &file);
    s.timeout = Some(Duration::from_millis(100));
    let plugin = PythonDriver::new(options(5000, 1)).load(&s).unwrap();
    let err = plugin
        .call(&mut request(HookKind::Pre, "Slow"))
        .await
        .unwrap_err();
    assert!(matches!(err, PluginError::Timeout { .. }), "{err:?}");
    s.timeout = None;
    let plugin = PythonDriver::new(options(5000, 1)).load(&s).unwrap();
    plugin
        .call(&mut request(HookKind::Pre, "Slow"))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_memory_hog_hits_the_limit_and_the_next_call_works() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "hog.py",
        r#"
def Big(request, session, spec):
    data = bytearray(200 * 1024 * 1024)
    return request, session

def Many(request, session, spec):
    keep = [str(i) * 10 for i in range(10_000_000)]
    return request, session

def Small(request, session, spec):
    data = bytearray(8 * 1024 * 1024)
    request.add_header("X-Len", str(len(data)))
    return request, session
"#,
    );
    let hooks = [
        (HookKind::Pre, "Big"),
        (HookKind::Pre, "Many"),
        (HookKind::Pre, "Small"),
    ];
    let plugin = load(options(10_000, 1), &hooks, &file);
    for name in ["Big", "Many"] {
        let err = plugin
            .call(&mut request(HookKind::Pre, name))
            .await
            .unwrap_err();
        match err {
            PluginError::Crashed { reason, .. } => {
                assert!(reason.contains("memory limit"), "{name}: {reason}");
                assert!(reason.contains("MemoryError"), "{name}: {reason}");
            }
            other => panic!("{name}: expected Crashed, got {other:?}"),
        }
        let mut ctx = request(HookKind::Pre, "Small");
        plugin.call(&mut ctx).await.unwrap();
        assert_eq!(ctx.request.headers["x-len"], "8388608");
    }
}

#[test]
fn a_syntax_error_refuses_the_load_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "bad.py",
        "from tyk.decorators import *\n\n@Hook\ndef Broken(request, session, spec)\n    return request, session\n",
    );
    let err = load_err(&[(HookKind::Pre, "Broken")], &file);
    assert!(err.contains("bad.py:4: SyntaxError"), "{err}");
    let file = write(
        dir.path(),
        "raises.py",
        "x = 1\nraise RuntimeError('no config')\n",
    );
    let err = load_err(&[(HookKind::Pre, "X")], &file);
    assert!(
        err.contains("raises.py:2: RuntimeError: no config"),
        "{err}"
    );
}

#[test]
fn missing_hooks_and_wrong_argument_lists_refuse_the_load() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "mw.py",
        "def Three(request, session, spec):\n    return request, session\n",
    );
    let err = load_err(&[(HookKind::Pre, "Nope")], &file);
    assert!(err.contains("no function `Nope`"), "{err}");
    let err = load_err(&[(HookKind::Response, "Three")], &file);
    assert!(err.contains("takes 3 arguments"), "{err}");
    let err = load_err(&[(HookKind::Pre, "Three")], &dir.path().join("absent.py"));
    assert!(
        err.contains("absent.py") && err.contains("no such file"),
        "{err}"
    );
}

#[tokio::test]
async fn the_gil_is_free_while_a_hook_sleeps() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "sleepy.py",
        "import time\ndef Sleep(request, session, spec):\n    time.sleep(0.5)\n    return request, session\ndef Quick(request, session, spec):\n    return request, session\n",
    );
    let sleepy = load(options(5000, 1), &[(HookKind::Pre, "Sleep")], &file);
    let quick = load(options(5000, 1), &[(HookKind::Pre, "Quick")], &file);
    let slow = tokio::spawn(async move { sleepy.call(&mut request(HookKind::Pre, "Sleep")).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = Instant::now();
    for _ in 0..20 {
        quick
            .call(&mut request(HookKind::Pre, "Quick"))
            .await
            .unwrap();
    }
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(300),
        "20 quick calls took {took:?} beside a sleeping hook"
    );
    slow.await.unwrap().unwrap();
}

/// Calls per second of hook `name` from 16 concurrent callers, with `threads` workers.
async fn rate(file: &std::path::Path, name: &str, threads: usize, calls: u32) -> f64 {
    let plugin = load(options(5000, threads), &[(HookKind::Pre, name)], file);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (plugin, name) = (plugin.clone(), name.to_owned());
        tasks.push(tokio::spawn(async move {
            for _ in 0..calls / 16 {
                plugin
                    .call(&mut request(HookKind::Pre, &name))
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    f64::from(calls) / started.elapsed().as_secs_f64()
}

/// Hook calls per second with N worker threads. A trivial hook is all bytecode: the GIL
/// serialises it, so threads add little. A hook that sleeps 5 ms releases the GIL: threads
/// multiply its rate. Prints the numbers (`--nocapture`).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn throughput_by_threads() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "rates.py",
        "import time\ndef Fast(request, session, spec):\n    request.add_header('X-A', 'b')\n    return request, session\ndef Nap(request, session, spec):\n    time.sleep(0.005)\n    return request, session\n",
    );
    let mut fast = Vec::new();
    let mut nap = Vec::new();
    for threads in [1, 2, 4, 8] {
        fast.push(rate(&file, "Fast", threads, 2000).await);
        nap.push(rate(&file, "Nap", threads, 320).await);
        println!(
            "python driver, {threads} thread(s): trivial hook {:.0} calls/s, 5 ms sleeping hook {:.0} calls/s",
            fast[fast.len() - 1],
            nap[nap.len() - 1]
        );
    }
    assert!(fast.iter().all(|r| *r > 500.0), "{fast:?}");
    assert!(
        nap[3] > nap[0] * 4.0,
        "sleeping hooks do not overlap: {nap:?}"
    );
}

#[tokio::test]
async fn a_worker_that_never_yields_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "swallow.py",
        r#"
def Swallow(request, session, spec):
    # Catches every interrupt: CPython cannot stop this thread.
    import time
    end = time.monotonic() + 3
    while time.monotonic() < end:
        try:
            while time.monotonic() < end:
                pass
        except BaseException:
            pass
    return request, session

def Quick(request, session, spec):
    return request, session
"#,
    );
    let plugin = load(
        options(100, 1),
        &[(HookKind::Pre, "Swallow"), (HookKind::Pre, "Quick")],
        &file,
    );
    let started = Instant::now();
    let err = plugin
        .call(&mut request(HookKind::Pre, "Swallow"))
        .await
        .unwrap_err();
    assert!(matches!(err, PluginError::Timeout { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_millis(1000));
    // The only worker is stuck; a spare serves.
    plugin
        .call(&mut request(HookKind::Pre, "Quick"))
        .await
        .unwrap();
}
