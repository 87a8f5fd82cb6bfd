//! `weir check`: every problem on its own line (file, field, reason), exit 1 if any.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use weir_config::{ConfigError, check_api_set, load_app_dir, load_gateway_config};
use weir_proxy::CompiledApi;
use weir_proxy::metrics::Metrics;
use weir_proxy::streams::Streaming;

/// Validates the config at `conf` and the definitions in its app_path.
pub fn check(conf: &Path) -> ExitCode {
    let problems = problems(conf);
    if problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        for p in &problems {
            eprintln!("{p}");
        }
        eprintln!("weir check: {} problem(s)", problems.len());
        ExitCode::FAILURE
    }
}

fn problems(conf: &Path) -> Vec<ConfigError> {
    let config = match load_gateway_config(conf) {
        Ok(c) => c,
        Err(errors) => return errors,
    };
    let mut problems = Vec::new();
    for field in weir_config::unknown_gateway_fields(conf) {
        eprintln!(
            "warning: {}: {field}: not a setting Weir knows; ignored, as Tyk ignores unknown fields",
            conf.display()
        );
    }
    if config.http_server_options.use_ssl
        && let Err(e) = weir_proxy::tls::server_config(
            &config.http_server_options.certificates,
            config.http_server_options.enable_http2,
        )
    {
        problems.push(ConfigError::new(
            conf,
            "http_server_options.certificates",
            e.to_string(),
        ));
    }
    let metrics = Metrics::new();
    // Checking needs no store: the API's auth compiles against an empty one.
    let keys = std::sync::Arc::new(
        weir_proxy::auth::key_service(&weir_config::keys::KeySettings::default())
            .expect("a memory key store always builds"),
    );
    if let Some(path) = &config.keys.policy_path
        && let Err(e) = weir_auth::policy::Policies::from_file(path)
    {
        problems.push(ConfigError::new(
            conf,
            "policies.policy_path",
            e.to_string(),
        ));
    }
    let (host, _) = crate::drivers::plugin_host(&config);
    let mut apis = Vec::new();
    for (_, result) in load_app_dir(&config.app_path) {
        match result {
            Ok(mut def) => {
                for field in weir_config::compat::unknown_fields(&def) {
                    eprintln!(
                        "warning: {}: {field}: not a setting Weir knows; ignored, as Tyk ignores unknown fields",
                        def.file.display()
                    );
                }
                weir_config::apply_gateway_settings(&mut def, &config);
                let plugins = match weir_admin::load_plugins(&def, &host) {
                    Ok(p) => p,
                    Err(e) => {
                        problems.push(e);
                        continue;
                    }
                };
                let streaming = if config.streaming_enabled {
                    Streaming::Check
                } else {
                    Streaming::Off
                };
                let headers_from_rate = config.keys.rate_limit_headers_from_rate;
                match CompiledApi::compile(
                    def.clone(),
                    &metrics,
                    plugins,
                    streaming,
                    &keys,
                    headers_from_rate,
                ) {
                    Ok(_) => apis.push(def),
                    Err(e) => problems.push(e),
                }
            }
            Err(errors) => problems.extend(errors),
        }
    }
    problems.extend(check_api_set(&apis));
    if problems.is_empty() {
        let apis: Vec<_> = apis.into_iter().map(Arc::new).collect();
        println!(
            "weir check: {} OK, {} API definition(s) in {}",
            conf.display(),
            apis.len(),
            config.app_path.display()
        );
    }
    problems
}
