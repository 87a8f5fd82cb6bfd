//! Tyk plugin bundles: a zip holding `manifest.json` and the plugin's files, named by an API's
//! `custom_middleware_bundle` (OAS `pluginConfig.bundle.path`).
//!
//! As Tyk does (gateway/coprocess_bundle.go): a bundle lives unpacked in
//! `<middleware_path>/bundles/<md5 of its name>`; a folder already there is used without a
//! download; otherwise, with `enable_bundle_downloader`, the zip is fetched from
//! `<bundle_base_url>/<name>`, checked and unpacked. The check: `checksum` is the md5 of the
//! `file_list` files' contents, one after another; with `public_key_path` set, `signature` is
//! the base64 RSA PKCS#1 v1.5 signature of the SHA-256 of those same bytes. The manifest's
//! `custom_middleware` replaces the API's hooks (and its driver, when it names one).
//!
//! Where Weir decides: an API that names a bundle that is neither unpacked nor downloadable
//! keeps the hooks its definition declares (seed 000 names a bundle only to key
//! `middleware_global_config`); without such hooks it is refused, naming the bundle.

use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::signature::Verifier;
use serde::Deserialize;
use sha2::Sha256;
use weir_config::plugin_settings::PluginSettings;
use weir_config::{ConfigError, DefinitionFormat, PluginDeclaration};

/// Largest bundle zip fetched, and largest total unpacked size.
const MAX_BUNDLE_BYTES: u64 = 64 << 20;
/// How long a bundle download may take.
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(30);

/// `manifest.json`.
#[derive(Deserialize)]
struct Manifest {
    #[serde(default)]
    file_list: Vec<String>,
    #[serde(default)]
    custom_middleware: serde_json::Value,
    #[serde(default)]
    checksum: String,
    #[serde(default)]
    signature: String,
}

/// The field that names the bundle, in the definition's form.
fn bundle_field(format: DefinitionFormat) -> &'static str {
    match format {
        DefinitionFormat::Classic => "custom_middleware_bundle",
        DefinitionFormat::Oas => "x-tyk-api-gateway.middleware.global.pluginConfig.bundle.path",
    }
}

/// The folder a bundle unpacks to: `<middleware_path>/bundles/<md5(name)>`.
pub fn bundle_dir(settings: &PluginSettings, name: &str) -> PathBuf {
    settings
        .middleware_path
        .join("bundles")
        .join(format!("{:x}", md5::compute(name)))
}

/// The API's declaration with its bundle's manifest applied; `decl` itself when it names no
/// bundle, or names one that is not available while the definition declares hooks.
pub fn resolve(
    settings: &PluginSettings,
    api: &weir_config::ApiDefinition,
    decl: &PluginDeclaration,
) -> Result<PluginDeclaration, ConfigError> {
    let name = decl.bundle.as_str();
    if name.is_empty() {
        return Ok(decl.clone());
    }
    let field = bundle_field(api.format);
    let fail = |reason: String| {
        ConfigError::new(
            &api.file,
            field,
            format!("API `{}`: plugin bundle `{name}`: {reason}", api.api_id),
        )
    };
    let dir = bundle_dir(settings, name);
    let manifest = if dir.join("manifest.json").is_file() {
        let manifest = read_manifest(&dir).map_err(&fail)?;
        if !settings.skip_verify_existing_plugin_bundle {
            verify(&dir, &manifest, settings).map_err(&fail)?;
        }
        manifest
    } else if settings.enable_bundle_downloader && !settings.bundle_base_url.is_empty() {
        let zip = download(settings, name).map_err(&fail)?;
        unpack_checked(&zip, &dir, settings).map_err(&fail)?
    } else if !decl.hooks.is_empty() {
        tracing::info!(api_id = %api.api_id, bundle = name, dir = %dir.display(),
            "the bundle is not unpacked and cannot be downloaded: using the hooks the definition declares");
        return Ok(decl.clone());
    } else {
        let why = if settings.enable_bundle_downloader {
            "bundle_base_url is empty"
        } else {
            "enable_bundle_downloader is off"
        };
        return Err(fail(format!(
            "it is not unpacked at {} and {why}",
            dir.display()
        )));
    };
    apply_manifest(api, decl, &manifest, &dir).map_err(&fail)
}

/// The declaration with the manifest's hooks (and driver, when it names one).
fn apply_manifest(
    api: &weir_config::ApiDefinition,
    decl: &PluginDeclaration,
    manifest: &Manifest,
    dir: &Path,
) -> Result<PluginDeclaration, String> {
    let manifest_file = dir.join("manifest.json");
    let section = weir_config::manifest_middleware(
        &manifest.custom_middleware,
        &manifest_file,
        &api.api_id,
        decl.custom_auth,
    )
    .map_err(|errors| {
        let all: Vec<String> = errors.iter().map(ToString::to_string).collect();
        all.join("; ")
    })?;
    let driver = if section.driver.is_empty() {
        decl.driver.clone()
    } else {
        section.driver
    };
    let mut hooks = section.hooks;
    // Python and Lua bundles name functions, not files: the bundle folder is the plugin.
    if driver != "grpc" {
        for hook in hooks.iter_mut().filter(|h| h.path.is_none()) {
            hook.path = Some(dir.to_path_buf());
        }
    }
    let has_auth = hooks
        .iter()
        .any(|h| h.phase == weir_config::HookPhase::CustomAuth);
    if decl.custom_auth && !has_auth {
        return Err("the API authenticates with a plugin, but the manifest's custom_middleware has no auth_check".into());
    }
    Ok(PluginDeclaration {
        driver,
        hooks,
        custom_auth: has_auth,
        timeout: section.timeout.or(decl.timeout),
        config_data: decl.config_data.clone(),
        bundle: decl.bundle.clone(),
    })
}

fn read_manifest(dir: &Path) -> Result<Manifest, String> {
    let file = dir.join("manifest.json");
    let text = std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))?;
    serde_json::from_slice(&text).map_err(|e| format!("{}: {e}", file.display()))
}

/// Checks `checksum` (and `signature` when a public key is configured) against the files.
fn verify(dir: &Path, manifest: &Manifest, settings: &PluginSettings) -> Result<(), String> {
    let mut data = Vec::new();
    for name in &manifest.file_list {
        let path = inside(dir, name)?;
        let bytes = std::fs::read(&path).map_err(|e| format!("file_list `{name}`: {e}"))?;
        data.extend_from_slice(&bytes);
    }
    let actual = format!("{:x}", md5::compute(&data));
    if !actual.eq_ignore_ascii_case(manifest.checksum.trim()) {
        return Err(format!(
            "Invalid checksum: the manifest says `{}`, the files of file_list give `{actual}`",
            manifest.checksum
        ));
    }
    if let Some(key_file) = &settings.public_key_path {
        if manifest.signature.trim().is_empty() {
            return Err(format!(
                "Bundle isn't signed, and public_key_path ({}) requires a signature",
                key_file.display()
            ));
        }
        verify_signature(key_file, &data, manifest.signature.trim())?;
    }
    Ok(())
}

/// RSA PKCS#1 v1.5 over SHA-256 of `data`, as Tyk's bundle signer makes it.
fn verify_signature(key_file: &Path, data: &[u8], signature_b64: &str) -> Result<(), String> {
    use rsa::pkcs1::DecodeRsaPublicKey;
    use rsa::pkcs8::DecodePublicKey;
    let pem = std::fs::read_to_string(key_file)
        .map_err(|e| format!("public_key_path {}: {e}", key_file.display()))?;
    let key = rsa::PublicKey::from_public_key_pem(&pem)
        .or_else(|_| rsa::PublicKey::from_pkcs1_pem(&pem))
        .map_err(|e| {
            format!(
                "public_key_path {}: not an RSA public key in PEM: {e}",
                key_file.display()
            )
        })?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(signature_b64)
        .map_err(|e| format!("signature is not base64: {e}"))?;
    let signature =
        Signature::try_from(raw.as_slice()).map_err(|e| format!("signature is malformed: {e}"))?;
    VerifyingKey::<Sha256>::new(key)
        .verify(data, &signature)
        .map_err(|_| "the signature does not verify against public_key_path".to_string())
}

/// `name` joined to `dir`, refusing absolute paths and `..` (a manifest cannot reach out).
fn inside(dir: &Path, name: &str) -> Result<PathBuf, String> {
    let rel = Path::new(name);
    let safe = rel
        .components()
        .all(|c| matches!(c, std::path::Component::Normal(_)));
    if !safe || name.is_empty() {
        return Err(format!(
            "file_list `{name}` is not a path inside the bundle"
        ));
    }
    Ok(dir.join(rel))
}

/// Fetches `<bundle_base_url>/<name>`.
fn download(settings: &PluginSettings, name: &str) -> Result<Vec<u8>, String> {
    let url = format!("{}/{}", settings.bundle_base_url, name);
    let mut config = ureq::Agent::config_builder()
        .timeout_global(Some(DOWNLOAD_TIMEOUT))
        .http_status_as_error(false);
    if settings.bundle_insecure_skip_verify {
        config = config.tls_config(
            ureq::tls::TlsConfig::builder()
                .disable_verification(true)
                .build(),
        );
    }
    let agent: ureq::Agent = config.build().into();
    let mut answer = agent
        .get(&url)
        .call()
        .map_err(|e| format!("downloading {url}: {e}"))?;
    let status = answer.status();
    if !status.is_success() {
        return Err(format!("downloading {url}: the server answered {status}"));
    }
    answer
        .body_mut()
        .with_config()
        .limit(MAX_BUNDLE_BYTES)
        .read_to_vec()
        .map_err(|e| format!("downloading {url}: {e}"))
}

/// Unpacks `zip` into a fresh folder beside `dir`, checks it, then moves it into place, so a
/// bad bundle never leaves a folder that a later load would trust.
fn unpack_checked(zip: &[u8], dir: &Path, settings: &PluginSettings) -> Result<Manifest, String> {
    let parent = dir.parent().ok_or("the bundle folder has no parent")?;
    std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    let staging = tempfile::Builder::new()
        .prefix(".unpacking-")
        .tempdir_in(parent)
        .map_err(|e| format!("{}: {e}", parent.display()))?;
    let result = unpack(zip, staging.path())
        .and_then(|()| read_manifest(staging.path()))
        .and_then(|m| verify(staging.path(), &m, settings).map(|()| m));
    let manifest = result?;
    let staged = staging.keep();
    if let Err(e) = std::fs::rename(&staged, dir) {
        let _ = std::fs::remove_dir_all(&staged);
        // Another load of the same bundle may have won the race; its folder is as good.
        if !dir.join("manifest.json").is_file() {
            return Err(format!("{}: {e}", dir.display()));
        }
    }
    Ok(manifest)
}

/// Writes the zip's files under `dir`; entries that would land outside it are refused.
fn unpack(zip: &[u8], dir: &Path) -> Result<(), String> {
    let mut archive =
        zip::ZipArchive::new(Cursor::new(zip)).map_err(|e| format!("not a zip file: {e}"))?;
    let mut total = 0u64;
    for i in 0..archive.len() {
        let mut entry = archive
            .by_index(i)
            .map_err(|e| format!("zip entry {i}: {e}"))?;
        let Some(rel) = entry.enclosed_name() else {
            return Err(format!(
                "zip entry `{}` escapes the bundle",
                entry.name_raw().escape_ascii()
            ));
        };
        let path = dir.join(&rel);
        if entry.is_dir() {
            std::fs::create_dir_all(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            continue;
        }
        if let Some(p) = path.parent() {
            std::fs::create_dir_all(p).map_err(|e| format!("{}: {e}", p.display()))?;
        }
        let mut bytes = Vec::new();
        (&mut entry)
            .take(MAX_BUNDLE_BYTES - total + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| format!("zip entry `{}`: {e}", rel.display()))?;
        total += bytes.len() as u64;
        if total > MAX_BUNDLE_BYTES {
            return Err(format!(
                "unpacks to more than {MAX_BUNDLE_BYTES} bytes; refused"
            ));
        }
        std::fs::write(&path, bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}
