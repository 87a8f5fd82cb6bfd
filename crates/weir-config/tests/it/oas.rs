//! OAS definitions: the streams seed, load-balancing weights, middleware, errors.

use std::path::Path;

use weir_config::{
    DefinitionFormat, UpstreamScheme, load_api_file, parse_api_definition, refuse_unbuilt_plugins,
};

use crate::{only, seed};

fn parse_json(text: &str) -> Result<weir_config::ApiDefinition, Vec<weir_config::ConfigError>> {
    parse_api_definition(text, Path::new("/apps/oas-api.json"))
}

#[test]
fn streams_seed_without_its_streams_loads_as_oas_without_upstream() {
    // The streams themselves are refused (see compat.rs); the rest of the seed is read.
    let mut doc: serde_json::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(seed("streams-demo.yaml")).unwrap())
            .unwrap();
    let streams = doc["x-tyk-streaming"]["streams"].take();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("streams-demo.json");
    std::fs::write(&path, doc.to_string()).unwrap();
    let api = load_api_file(&path).unwrap();
    assert_eq!(api.format, DefinitionFormat::Oas);
    assert_eq!(api.api_id, "streams-demo", "no info.id: the file stem");
    assert_eq!(api.name, "stream-demo");
    assert_eq!(api.listen_path, "/stream-demo/");
    assert!(api.strip_listen_path);
    assert!(api.active);
    assert!(api.use_keyless);
    assert!(api.targets.is_empty());
    assert!(api.plugins.is_none());
    assert!(streams["Worker"].is_object());
}

#[test]
fn load_balancing_weights_expand() {
    let api = parse_json(
        r#"{"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": {},
        "x-tyk-api-gateway": {
          "info": {"id": "lb-oas", "name": "LB", "orgId": "o1", "state": {"active": true}},
          "upstream": {"url": "http://primary:80",
                       "loadBalancing": {"enabled": true, "targets": [
                         {"url": "http://a:80", "weight": 2}, {"url": "grpc://b:90", "weight": 1},
                         {"url": "http://c:80", "weight": 0}]},
                       "preserveHostHeader": {"enabled": true}},
          "server": {"listenPath": {"value": "/lb/", "strip": true},
                     "customDomain": {"enabled": true, "name": "Api.Example.com"}}
        }}"#,
    )
    .unwrap();
    assert_eq!(api.api_id, "lb-oas");
    assert_eq!(api.org_id, "o1");
    let hosts: Vec<_> = api
        .targets
        .iter()
        .map(|t| t.url.host_str().unwrap())
        .collect();
    assert_eq!(hosts, ["a", "a", "b"]);
    assert_eq!(api.targets[2].scheme, UpstreamScheme::H2c);
    assert!(api.preserve_host_header);
    assert_eq!(api.domain.as_deref(), Some("api.example.com"));
    assert!(api.use_keyless);
}

#[test]
fn yaml_oas_with_cors_headers_and_plugins() {
    let text = r#"
openapi: 3.0.3
info: {title: from-title, version: "1"}
paths:
  /x:
    get:
      responses:
        200: {description: ok}
x-tyk-api-gateway:
  info: {id: plug, state: {active: true}}
  upstream: {url: "https://up.example:8443"}
  server:
    listenPath: {value: /plug/}
  middleware:
    global:
      pluginConfig: {driver: grpc}
      prePlugins: [{enabled: true, functionName: MyPre}]
      cors: {enabled: true, allowedOrigins: ["https://a.example"], allowedMethods: [GET, POST], maxAge: 30, optionsPassthrough: true}
      transformRequestHeaders: {enabled: true, add: [{name: X-Req, value: "1"}], remove: [Cookie]}
      transformResponseHeaders: {enabled: false, add: [{name: X-Ignored, value: "1"}]}
"#;
    let api = parse_api_definition(text, Path::new("/apps/plug.yaml")).unwrap();
    assert_eq!(api.name, "from-title");
    assert_eq!(api.targets[0].scheme, UpstreamScheme::Https);
    let cors = api.cors.as_ref().unwrap();
    assert_eq!(cors.allowed_methods, ["GET", "POST"]);
    assert_eq!(cors.max_age, 30);
    assert!(cors.options_passthrough);
    assert_eq!(api.headers.request_set, [("X-Req".into(), "1".into())]);
    assert_eq!(api.headers.request_remove, ["Cookie"]);
    assert!(
        api.headers.response_set.is_empty(),
        "disabled transform is ignored"
    );
    let plugins = api.plugins.as_ref().unwrap();
    assert_eq!(plugins.driver, "grpc");
    assert_eq!(plugins.hooks.len(), 1);
    assert_eq!(plugins.hooks[0].name, "MyPre");
    let e = refuse_unbuilt_plugins(&api, &[]).unwrap_err();
    assert_eq!(
        e.field,
        "x-tyk-api-gateway.middleware.global.pluginConfig.driver"
    );
    assert!(
        e.reason.contains("`plug`") && e.reason.contains("`grpc`"),
        "{}",
        e.reason
    );
}

#[test]
fn errors_use_oas_paths() {
    let doc = |gw: &str| format!(r#"{{"openapi": "3.0.3", "x-tyk-api-gateway": {gw}}}"#);
    let e = only(parse_json(&doc(r#"{"upstream": {"url": "http://u"}}"#)));
    assert_eq!(e.field, "x-tyk-api-gateway.server.listenPath.value");
    assert_eq!(e.reason, "is required");

    let e = only(parse_json(&doc(
        r#"{"upstream": {"url": "mailto:x"}, "server": {"listenPath": {"value": "/a"}}}"#,
    )));
    assert_eq!(e.field, "x-tyk-api-gateway.upstream.url");

    let e = only(parse_json(&doc(
        r#"{"upstream": {"loadBalancing": {"enabled": true, "targets": [{"url": "bad", "weight": 1}]}},
            "server": {"listenPath": {"value": "/a"}}}"#,
    )));
    assert_eq!(
        e.field,
        "x-tyk-api-gateway.upstream.loadBalancing.targets[0].url"
    );

    let e = only(parse_json(&doc(
        r#"{"upstream": {"loadBalancing": {"enabled": true, "targets": []}},
            "server": {"listenPath": {"value": "/a"}}}"#,
    )));
    assert_eq!(e.field, "x-tyk-api-gateway.upstream.loadBalancing.targets");

    let e = only(parse_json(&doc(
        r#"{"server": {"listenPath": {"value": "/a", "strip": "yes"}}}"#,
    )));
    assert_eq!(e.field, "x-tyk-api-gateway.server.listenPath.strip");
    assert_eq!(e.reason, "expected a boolean, found a string");
}

#[test]
fn openapi_without_extension_is_classic() {
    // Plain OpenAPI is not a Tyk API: it is read as classic and fails on the classic fields.
    let e = only(parse_json(
        r#"{"openapi": "3.0.3", "proxy": {"target_url": "http://u"}}"#,
    ));
    assert_eq!(e.field, "proxy.listen_path");
}
