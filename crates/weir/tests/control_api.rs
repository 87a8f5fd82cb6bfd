//! The control API with Tyk's paths and shapes: authorisation, `/tyk/apis`
//! (classic) and `/tyk/apis/oas` CRUD taking effect on reload, validation,
//! a separate `control_api_port`, and `/hello`, `/ready`, `/metrics`.

mod common;
mod support;

use std::collections::BTreeSet;
use std::path::Path;

use common::{api, oas_api, start};
use serde_json::{Value, json};
use support::{DENIED, admin, client, control_url, reload, status_of};
use weir_testkit::{Gateway, HttpUpstream, free_port};

/// A keyless classic API (as `common::api`, listen path stripped).
fn keyless(id: &str, listen_path: &str, target: &str) -> Value {
    api(id, listen_path, target, true)
}

/// A keyless OAS API (as `common::oas_api`, nothing more in `x-tyk-api-gateway`).
fn oas(id: &str, listen_path: &str, target: &str) -> Value {
    oas_api(id, listen_path, target, json!({}))
}

fn app_files(gw: &Gateway) -> BTreeSet<String> {
    std::fs::read_dir(gw.dir().join("apps"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[tokio::test]
async fn every_tyk_call_without_the_right_key_is_403() {
    let up = HttpUpstream::start();
    let gw = start(&[keyless("a1", "/a1/", &up.url())], json!({}));
    let calls = [
        ("GET", "/tyk/apis"),
        ("GET", "/tyk/apis/"),
        ("POST", "/tyk/apis"),
        ("GET", "/tyk/apis/a1"),
        ("PUT", "/tyk/apis/a1"),
        ("DELETE", "/tyk/apis/a1"),
        ("GET", "/tyk/apis/oas"),
        ("POST", "/tyk/apis/oas"),
        ("GET", "/tyk/apis/oas/a1"),
        ("DELETE", "/tyk/apis/oas/a1"),
        ("GET", "/tyk/reload"),
        ("GET", "/tyk/reload/?block=true"),
        ("GET", "/tyk/reload/group"),
        ("GET", "/tyk/keys"),
        ("GET", "/tyk/"),
        ("GET", "/tyk/no-such-endpoint"),
    ];
    let c = client();
    for (method, path) in calls {
        for key in [None, Some("wrong-secret"), Some(""), Some("test-secretX")] {
            let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
            let mut req = c
                .request(m, control_url(&gw, path))
                .body(keyless("a1", "/a1/", &up.url()).to_string());
            if let Some(k) = key {
                req = req.header("X-Tyk-Authorization", k);
            }
            let resp = req.send().await.unwrap();
            assert_eq!(resp.status(), 403, "{method} {path} with key {key:?}");
            let body: Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
            assert_eq!(
                body,
                json!({"status": "error", "message": DENIED}),
                "{method} {path}"
            );
        }
    }
    // Nothing was changed by the refused calls.
    assert!(gw.api_path("a1.json").exists());
    assert_eq!(app_files(&gw).len(), 1);
    assert_eq!(status_of(&gw.url("/a1/echo")).await, 200);
}

#[tokio::test]
async fn classic_api_lifecycle_takes_effect_on_reload() {
    let up = HttpUpstream::start();
    let gw = start(&[keyless("a1", "/a1/", &up.url())], json!({}));

    let (status, list) = admin(&gw, "GET", "/tyk/apis", None).await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["api_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["a1"]);

    // Added: written to app_path, served only after a reload.
    let def = keyless("b1", "/b1/", &up.url());
    let (status, body) = admin(&gw, "POST", "/tyk/apis", Some(def.to_string())).await;
    assert_eq!(
        (status, &body),
        (
            200,
            &json!({"key": "b1", "status": "ok", "action": "added"})
        )
    );
    let file = gw.api_path("b1.json");
    assert!(file.exists(), "not written: {:?}", app_files(&gw));
    assert_eq!(read_json(&file)["proxy"]["listen_path"], "/b1/");
    assert_eq!(
        status_of(&gw.url("/b1/echo")).await,
        404,
        "served before the reload"
    );
    reload(&gw).await;
    assert_eq!(status_of(&gw.url("/b1/echo")).await, 200);

    let (status, got) = admin(&gw, "GET", "/tyk/apis/b1", None).await;
    assert_eq!(status, 200);
    assert_eq!(got["api_id"], "b1");
    assert_eq!(got["proxy"]["listen_path"], "/b1/");
    let (status, list) = admin(&gw, "GET", "/tyk/apis", None).await;
    assert_eq!(status, 200);
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");

    // Modified: a new listen path, after a reload.
    let def = keyless("b1", "/b2/", &up.url());
    let (status, body) = admin(&gw, "PUT", "/tyk/apis/b1", Some(def.to_string())).await;
    assert_eq!(
        (status, &body),
        (
            200,
            &json!({"key": "b1", "status": "ok", "action": "modified"})
        )
    );
    assert_eq!(read_json(&file)["proxy"]["listen_path"], "/b2/");
    assert_eq!(
        status_of(&gw.url("/b1/echo")).await,
        200,
        "the old version serves until a reload"
    );
    reload(&gw).await;
    assert_eq!(status_of(&gw.url("/b2/echo")).await, 200);
    // The old listen path is the API's id: Tyk serves every API at `/<api_id>/` too.
    assert_eq!(status_of(&gw.url("/b1/echo")).await, 200);

    // Deleted: the file goes, and after a reload so does the route.
    let (status, body) = admin(&gw, "DELETE", "/tyk/apis/b1", None).await;
    assert_eq!(
        (status, &body),
        (
            200,
            &json!({"key": "b1", "status": "ok", "action": "deleted"})
        )
    );
    assert!(!file.exists());
    reload(&gw).await;
    assert_eq!(status_of(&gw.url("/b2/echo")).await, 404);
    assert_eq!(status_of(&gw.url("/b1/echo")).await, 404);
    let (status, body) = admin(&gw, "GET", "/tyk/apis/b1", None).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["status"], "error");
    assert_eq!(
        status_of(&gw.url("/a1/echo")).await,
        200,
        "the other API is untouched"
    );
}

#[tokio::test]
async fn oas_api_lifecycle_takes_effect_on_reload() {
    let up = HttpUpstream::start();
    let gw = start(&[keyless("a1", "/a1/", &up.url())], json!({}));

    let doc = oas("o1", "/o1/", &up.url());
    let (status, body) = admin(&gw, "POST", "/tyk/apis/oas", Some(doc.to_string())).await;
    assert_eq!(
        (status, &body),
        (
            200,
            &json!({"key": "o1", "status": "ok", "action": "added"})
        )
    );
    assert!(
        app_files(&gw).iter().any(|f| f.starts_with("o1")),
        "{:?}",
        app_files(&gw)
    );
    assert_eq!(
        status_of(&gw.url("/o1/echo")).await,
        404,
        "served before the reload"
    );
    reload(&gw).await;
    let resp = client().get(gw.url("/o1/echo/x")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let echo: Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
    assert_eq!(echo["path"], "/echo/x", "listenPath.strip applies");

    let (status, got) = admin(&gw, "GET", "/tyk/apis/oas/o1", None).await;
    assert_eq!(status, 200);
    assert_eq!(got["x-tyk-api-gateway"]["info"]["id"], "o1");
    assert_eq!(got["openapi"], "3.0.3");
    let (status, list) = admin(&gw, "GET", "/tyk/apis/oas", None).await;
    assert_eq!(status, 200);
    let oas_ids: Vec<&Value> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|d| &d["x-tyk-api-gateway"]["info"]["id"])
        .collect();
    assert_eq!(oas_ids, [&json!("o1")], "only OAS APIs listed: {list}");

    let doc = oas("o1", "/o2/", &up.url());
    let (status, body) = admin(&gw, "PUT", "/tyk/apis/oas/o1", Some(doc.to_string())).await;
    assert_eq!(
        (status, &body),
        (
            200,
            &json!({"key": "o1", "status": "ok", "action": "modified"})
        )
    );
    reload(&gw).await;
    assert_eq!(status_of(&gw.url("/o2/echo")).await, 200);
    // The old listen path is the API's id: Tyk serves every API at `/<api_id>/` too.
    assert_eq!(status_of(&gw.url("/o1/echo")).await, 200);

    let (status, body) = admin(&gw, "DELETE", "/tyk/apis/oas/o1", None).await;
    assert_eq!(
        (status, &body),
        (
            200,
            &json!({"key": "o1", "status": "ok", "action": "deleted"})
        )
    );
    reload(&gw).await;
    assert_eq!(status_of(&gw.url("/o2/echo")).await, 404);
    assert_eq!(status_of(&gw.url("/o1/echo")).await, 404);
    assert_eq!(app_files(&gw), BTreeSet::from(["a1.json".to_string()]));
}

#[tokio::test]
async fn invalid_bodies_are_400_and_nothing_is_written() {
    let up = HttpUpstream::start();
    let gw = start(&[keyless("a1", "/a1/", &up.url())], json!({}));
    let before = app_files(&gw);

    for path in ["/tyk/apis", "/tyk/apis/oas"] {
        let (status, body) = admin(&gw, "POST", path, Some("{\"api_id\": \"x\", ".into())).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["status"], "error");
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{body}"
        );

        let (status, body) = admin(&gw, "POST", path, Some("[1, 2]".into())).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["status"], "error");
    }

    // listen_path missing: the message names the field.
    let mut def = keyless("nolp", "/nolp/", &up.url());
    def["proxy"].as_object_mut().unwrap().remove("listen_path");
    let (status, body) = admin(&gw, "POST", "/tyk/apis", Some(def.to_string())).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["status"], "error");
    let msg = body["message"].as_str().unwrap();
    assert!(
        msg.contains("listen_path"),
        "message does not name the field: {msg}"
    );

    // A wrong type on PUT of an existing API is refused too, and the file is kept.
    let mut def = keyless("a1", "/a1/", &up.url());
    def["proxy"]["listen_path"] = json!(5);
    let (status, body) = admin(&gw, "PUT", "/tyk/apis/a1", Some(def.to_string())).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("listen_path"),
        "{body}"
    );
    assert_eq!(
        read_json(&gw.api_path("a1.json"))["proxy"]["listen_path"],
        "/a1/"
    );

    // OAS without a listen path.
    let mut doc = oas("o1", "/o1/", &up.url());
    doc["x-tyk-api-gateway"]["server"]
        .as_object_mut()
        .unwrap()
        .remove("listenPath");
    let (status, body) = admin(&gw, "POST", "/tyk/apis/oas", Some(doc.to_string())).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("listenPath"),
        "{body}"
    );

    // PUT whose body names another API.
    let def = keyless("other", "/a1/", &up.url());
    let (status, body) = admin(&gw, "PUT", "/tyk/apis/a1", Some(def.to_string())).await;
    assert_eq!(status, 400, "{body}");

    assert_eq!(
        app_files(&gw),
        before,
        "a refused definition left a file behind"
    );
    reload(&gw).await;
    assert_eq!(status_of(&gw.url("/a1/echo")).await, 200);
}

#[tokio::test]
async fn control_api_port_separates_control_from_traffic() {
    let up = HttpUpstream::start();
    let control_port = free_port();
    let gw = start(
        &[keyless("a1", "/a1/", &up.url())],
        json!({ "control_api_port": control_port }),
    );
    assert_eq!(gw.control_addr().port(), control_port);
    assert_ne!(gw.port(), control_port);
    let main = |p: &str| gw.url(p);
    let ctl = |p: &str| control_url(&gw, p);

    // The control port: /hello, /tyk/, but no API traffic.
    assert_eq!(status_of(&ctl("/hello")).await, 200);
    let (status, list) = admin(&gw, "GET", "/tyk/apis", None).await;
    assert_eq!(status, 200);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(status_of(&ctl("/a1/echo")).await, 404);

    // The main port: API traffic; /tyk/apis and /hello are unrouted paths.
    assert_eq!(status_of(&main("/a1/echo")).await, 200);
    for path in ["/tyk/apis", "/hello"] {
        let resp = client()
            .get(main(path))
            .header("X-Tyk-Authorization", weir_testkit::SECRET)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 404, "{path} on the main port");
        let ct = resp
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string());
        assert!(
            ct.as_deref()
                .is_some_and(|c| c.starts_with("application/json")),
            "{path}: {ct:?}"
        );
        let body: Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
        assert!(body["error"].is_string(), "{path}: {body}");
    }

    // Reload through the control port still works.
    gw.write_api("b1.json", keyless("b1", "/b1/", &up.url()));
    reload(&gw).await;
    assert_eq!(status_of(&main("/b1/echo")).await, 200);
}

#[tokio::test]
async fn hello_ready_and_metrics() {
    let up = HttpUpstream::start();
    let gw = start(&[keyless("a1", "/a1/", &up.url())], json!({}));

    let resp = client().get(gw.url("/hello")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let resp = client().get(gw.url("/ready")).send().await.unwrap();
    assert_eq!(resp.status(), 200);

    let c = client();
    for _ in 0..3 {
        assert_eq!(
            c.get(gw.url("/a1/echo")).send().await.unwrap().status(),
            200
        );
    }
    assert_eq!(
        c.get(gw.url("/a1/status/503"))
            .send()
            .await
            .unwrap()
            .status(),
        503
    );

    let resp = c.get(gw.url("/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("text/plain"), "{ct}");
    let text = resp.text().await.unwrap();
    assert_eq!(
        sample(
            &text,
            "weir_requests_total",
            &["api_id=\"a1\"", "code=\"200\""]
        ),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "weir_requests_total",
            &["api_id=\"a1\"", "code=\"503\""]
        ),
        Some(1.0),
        "{text}"
    );
    assert!(
        sample(&text, "weir_reloads_total", &[]).is_some_and(|v| v >= 1.0),
        "{text}"
    );
    assert!(
        sample(&text, "weir_open_connections", &[]).is_some_and(|v| v >= 1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "weir_definition_errors", &[]),
        Some(0.0),
        "{text}"
    );

    // A broken file shows in weir_definition_errors after the next reload.
    gw.write_api("broken.json", "{ not json");
    let message = reload(&gw).await;
    assert!(message.contains("broken.json"), "reload message: {message}");
    let text = c
        .get(gw.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        sample(&text, "weir_definition_errors", &[]),
        Some(1.0),
        "{text}"
    );
    assert!(
        sample(&text, "weir_reloads_total", &[]).is_some_and(|v| v >= 2.0),
        "{text}"
    );
}

/// The sum of the samples of `metric` whose labels include every one of `labels`.
fn sample(text: &str, metric: &str, labels: &[&str]) -> Option<f64> {
    let mut found = None;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let (name, label_part) = match series.split_once('{') {
            Some((n, rest)) => (n, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        if name != metric
            || !labels
                .iter()
                .all(|l| label_part.split(',').any(|p| p == *l))
        {
            continue;
        }
        *found.get_or_insert(0.0) += value.parse::<f64>().ok()?;
    }
    found
}

#[tokio::test]
async fn ids_are_generated_and_odd_requests_get_tyk_shaped_errors() {
    let up = HttpUpstream::start();
    let gw = start(&[keyless("a1", "/a1/", &up.url())], json!({}));

    // No api_id: one is generated and used for the file name.
    let mut def = keyless("x", "/gen/", &up.url());
    def.as_object_mut().unwrap().remove("api_id");
    let (status, body) = admin(&gw, "POST", "/tyk/apis", Some(def.to_string())).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (&body["status"], &body["action"]),
        (&json!("ok"), &json!("added"))
    );
    let id = body["key"].as_str().unwrap().to_string();
    assert!(!id.is_empty());
    assert_eq!(
        read_json(&gw.api_path(&format!("{id}.json")))["api_id"],
        id.as_str()
    );

    // Non-blocking reload answers at once and the API is served soon after.
    let (status, body) = admin(&gw, "GET", "/tyk/reload/", None).await;
    assert_eq!(
        (status, &body),
        (200, &json!({"status": "ok", "message": ""}))
    );
    let served = support::eventually(std::time::Duration::from_secs(5), || async {
        status_of(&gw.url("/gen/echo")).await == 200
    })
    .await;
    assert!(served, "not served after a non-blocking reload");
    let (status, body) = admin(&gw, "GET", "/tyk/reload/group", None).await;
    assert_eq!((status, &body["status"]), (200, &json!("ok")), "{body}");

    // Adding an id that exists is refused and keeps the file.
    let (status, body) = admin(
        &gw,
        "POST",
        "/tyk/apis",
        Some(keyless("a1", "/zz/", &up.url()).to_string()),
    )
    .await;
    assert!((400..500).contains(&status), "{status} {body}");
    assert_eq!(body["status"], "error");
    assert_eq!(
        read_json(&gw.api_path("a1.json"))["proxy"]["listen_path"],
        "/a1/"
    );

    // Unknown ids, methods and endpoints.
    for (method, path, want) in [
        ("GET", "/tyk/apis/nope", 404),
        ("DELETE", "/tyk/apis/nope", 404),
        ("PUT", "/tyk/apis/nope", 404),
        ("GET", "/tyk/apis/oas/nope", 404),
        ("PATCH", "/tyk/apis", 405),
        ("POST", "/tyk/reload", 404),
        ("GET", "/tyk/no-such-endpoint", 404),
    ] {
        let body = (method == "PUT").then(|| keyless("nope", "/nope/", &up.url()).to_string());
        let (status, json) = admin(&gw, method, path, body).await;
        if method == "POST" && path == "/tyk/reload" {
            // Tyk routes reload for GET only; anything 4xx will do.
            assert!(
                (400..500).contains(&status),
                "{method} {path}: {status} {json}"
            );
        } else {
            assert_eq!(status, want, "{method} {path}: {json}");
        }
        assert_eq!(json["status"], "error", "{method} {path}: {json}");
        assert!(json["message"].is_string(), "{method} {path}: {json}");
    }
}

/// An api_id is used as a file name: it must not lead outside app_path.
#[tokio::test]
async fn an_api_id_cannot_escape_app_path() {
    let up = HttpUpstream::start();
    let gw = start(&[keyless("a1", "/a1/", &up.url())], json!({}));
    let before_dir: BTreeSet<String> = std::fs::read_dir(gw.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    for bad in [
        "../escaped",
        "sub/dir",
        "/tmp/weir-escaped",
        ".hidden",
        "..",
        "a\\b",
    ] {
        let (status, body) = admin(
            &gw,
            "POST",
            "/tyk/apis",
            Some(keyless(bad, "/esc/", &up.url()).to_string()),
        )
        .await;
        assert_eq!(status, 400, "api_id {bad:?}: {body}");
        assert_eq!(body["status"], "error", "{body}");
        assert!(
            body["message"].as_str().unwrap().contains("api_id"),
            "{body}"
        );

        let doc = oas(bad, "/esc/", &up.url());
        let (status, body) = admin(&gw, "POST", "/tyk/apis/oas", Some(doc.to_string())).await;
        assert_eq!(status, 400, "OAS id {bad:?}: {body}");
    }
    let after_dir: BTreeSet<String> = std::fs::read_dir(gw.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        after_dir, before_dir,
        "something was written next to app_path"
    );
    assert_eq!(app_files(&gw), BTreeSet::from(["a1.json".to_string()]));
    assert!(!Path::new("/tmp/weir-escaped.json").exists());
}
