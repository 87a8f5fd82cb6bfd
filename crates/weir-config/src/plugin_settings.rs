//! The gateway-wide plugin settings of tyk.conf: the JavaScript engine (`enable_jsvm`,
//! `jsvm_timeout`) and plugin bundles (`middleware_path`, `enable_bundle_downloader`,
//! `bundle_base_url`, `public_key_path`, ...). Read once per load like the rest of the file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::errors::ConfigError;

/// Plugin settings shared by every API.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginSettings {
    /// `enable_jsvm`: JavaScript plugins run only when it is true (Tyk's default is false);
    /// an API with a JS driver is refused otherwise.
    pub enable_jsvm: bool,
    /// `jsvm_timeout` in seconds (default 5, as Tyk's): a JS hook's deadline when its API
    /// sets no `custom_middleware.timeout`.
    pub jsvm_timeout: Duration,
    /// `middleware_path` (default `middleware`, resolved against the config file's folder):
    /// bundles are unpacked under `<middleware_path>/bundles/<md5 of the bundle name>`.
    pub middleware_path: PathBuf,
    /// `enable_bundle_downloader`: fetch a bundle that is not unpacked yet.
    pub enable_bundle_downloader: bool,
    /// `bundle_base_url`: bundles are fetched from `<bundle_base_url>/<bundle name>`.
    pub bundle_base_url: String,
    /// `bundle_insecure_skip_verify`: no certificate check when fetching over HTTPS.
    pub bundle_insecure_skip_verify: bool,
    /// `public_key_path`: an RSA public key (PEM); when set, a bundle's manifest must carry a
    /// `signature` it verifies.
    pub public_key_path: Option<PathBuf>,
    /// `skip_verify_existing_plugin_bundle`: a bundle already unpacked is used without
    /// checking its checksum and signature again.
    pub skip_verify_existing_plugin_bundle: bool,
    /// `disable_virtual_path_blobs`: virtual endpoints whose code is a blob are refused.
    pub disable_virtual_path_blobs: bool,
    /// How endpoint paths (virtual endpoints) match the request's path.
    pub endpoint_matching: EndpointMatching,
}

/// Tyk's endpoint path matching switches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EndpointMatching {
    /// `http_server_options.enable_path_prefix_matching`: the path must start the request's.
    pub prefix: bool,
    /// `http_server_options.enable_path_suffix_matching`: the path must end the request's.
    pub suffix: bool,
    /// `ignore_endpoint_case`: letters match whatever their case.
    pub ignore_case: bool,
}

impl Default for PluginSettings {
    fn default() -> Self {
        PluginSettings {
            enable_jsvm: false,
            jsvm_timeout: Duration::from_secs(5),
            middleware_path: PathBuf::from("middleware"),
            enable_bundle_downloader: false,
            bundle_base_url: String::new(),
            bundle_insecure_skip_verify: false,
            public_key_path: None,
            skip_verify_existing_plugin_bundle: false,
            disable_virtual_path_blobs: false,
            endpoint_matching: EndpointMatching::default(),
        }
    }
}

/// The defaults, merged under the file (the env walk reads kinds from them).
pub(crate) fn defaults() -> Value {
    json!({
        "enable_jsvm": false,
        "jsvm_timeout": 5,
        "middleware_path": "middleware",
        "enable_bundle_downloader": false,
        "bundle_base_url": "",
        "bundle_insecure_skip_verify": false,
        "public_key_path": "",
        "skip_verify_existing_plugin_bundle": false,
        "disable_virtual_path_blobs": false,
        "ignore_endpoint_case": false,
        "http_server_options": {
            "enable_path_prefix_matching": false,
            "enable_path_suffix_matching": false
        }
    })
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawPluginSettings {
    enable_jsvm: bool,
    jsvm_timeout: f64,
    middleware_path: String,
    enable_bundle_downloader: bool,
    bundle_base_url: String,
    bundle_insecure_skip_verify: bool,
    public_key_path: String,
    skip_verify_existing_plugin_bundle: bool,
    disable_virtual_path_blobs: bool,
    ignore_endpoint_case: bool,
    http_server_options: RawMatching,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawMatching {
    enable_path_prefix_matching: bool,
    enable_path_suffix_matching: bool,
}

/// Reads the plugin settings from the merged tyk.conf document; relative paths resolve
/// against `base_dir`, the config file's folder.
pub(crate) fn read(
    doc: &Value,
    file: &Path,
    base_dir: &Path,
) -> Result<PluginSettings, ConfigError> {
    let raw: RawPluginSettings = crate::document::typed(doc, file)?;
    // Tyk reads 0 (or less) as its default of 5 seconds.
    let jsvm_timeout = if raw.jsvm_timeout <= 0.0 {
        Duration::from_secs(5)
    } else {
        Duration::try_from_secs_f64(raw.jsvm_timeout).map_err(|_| {
            ConfigError::new(
                file,
                "jsvm_timeout",
                format!("expected seconds, found {}", raw.jsvm_timeout),
            )
        })?
    };
    let base_url = raw.bundle_base_url.trim().trim_end_matches('/').to_string();
    let http = base_url.starts_with("http://") || base_url.starts_with("https://");
    if !base_url.is_empty() && !http {
        return Err(ConfigError::new(
            file,
            "bundle_base_url",
            format!("expected an http:// or https:// address, found `{base_url}`"),
        ));
    }
    let middleware_path = match raw.middleware_path.trim() {
        "" => "middleware",
        p => p,
    };
    let public_key_path = raw.public_key_path.trim();
    Ok(PluginSettings {
        enable_jsvm: raw.enable_jsvm,
        jsvm_timeout,
        middleware_path: base_dir.join(middleware_path),
        enable_bundle_downloader: raw.enable_bundle_downloader,
        bundle_base_url: base_url,
        bundle_insecure_skip_verify: raw.bundle_insecure_skip_verify,
        public_key_path: (!public_key_path.is_empty()).then(|| base_dir.join(public_key_path)),
        skip_verify_existing_plugin_bundle: raw.skip_verify_existing_plugin_bundle,
        disable_virtual_path_blobs: raw.disable_virtual_path_blobs,
        endpoint_matching: EndpointMatching {
            prefix: raw.http_server_options.enable_path_prefix_matching,
            suffix: raw.http_server_options.enable_path_suffix_matching,
            ignore_case: raw.ignore_endpoint_case,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_json(v: Value) -> Result<PluginSettings, ConfigError> {
        let mut doc = defaults();
        doc.as_object_mut()
            .unwrap()
            .extend(v.as_object().unwrap().clone());
        read(
            &doc,
            Path::new("/etc/weir/tyk.conf"),
            Path::new("/etc/weir"),
        )
    }

    #[test]
    fn defaults_are_tyks() {
        let s = read_json(json!({})).unwrap();
        assert!(!s.enable_jsvm);
        assert_eq!(s.jsvm_timeout, Duration::from_secs(5));
        assert_eq!(s.middleware_path, Path::new("/etc/weir/middleware"));
        assert!(s.public_key_path.is_none());
    }

    #[test]
    fn paths_resolve_and_the_base_url_is_an_http_address() {
        let s = read_json(json!({"enable_jsvm": true, "jsvm_timeout": 2,
            "middleware_path": "/opt/mw", "public_key_path": "keys/pub.pem",
            "enable_bundle_downloader": true, "bundle_base_url": "http://b.example/bundles/"}))
        .unwrap();
        assert!(s.enable_jsvm);
        assert_eq!(s.jsvm_timeout, Duration::from_secs(2));
        assert_eq!(s.middleware_path, Path::new("/opt/mw"));
        assert_eq!(
            s.public_key_path.as_deref(),
            Some(Path::new("/etc/weir/keys/pub.pem"))
        );
        assert_eq!(s.bundle_base_url, "http://b.example/bundles");
        // Tyk's shipped tyk.conf switches the downloader on with no base URL: it loads, and an
        // API that needs a download is refused then.
        assert!(read_json(json!({"enable_bundle_downloader": true})).is_ok());
        let e = read_json(json!({"bundle_base_url": "ftp://x"})).unwrap_err();
        assert!(e.reason.contains("http://"), "{e}");
    }
}
