//! An API's plugin declaration, typed: the one parse of classic `custom_middleware` (with
//! `config_data`, `custom_plugin_auth_enabled`, ...) and of the OAS `x-tyk-api-gateway` plugin
//! fields. The loaders (`classic.rs`, `oas.rs`) read the raw form; this module holds what they
//! produce and the rules both forms share. The plugin host only maps it to drivers.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserializer;
use serde::de::{Error, Unexpected, Visitor};
use serde_json::Value;

use crate::errors::ConfigError;

/// What an API declares about plugins, in either definition form.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginDeclaration {
    /// `custom_middleware.driver` (OAS: `pluginConfig.driver`), trimmed; may be empty, in which
    /// case an API with hooks is refused by the gateway.
    pub driver: String,
    /// The hooks that are on, in declaration order: `pre`, `post_key_auth`, `post`,
    /// `response`, then stream hooks, then the custom authentication hook (OAS: `prePlugins`,
    /// `postAuthenticationPlugins`, `postPlugins`, `responsePlugins`, `grpcMessagePlugins`,
    /// then `server.authentication.custom`).
    pub hooks: Vec<HookDeclaration>,
    /// True when a plugin authenticates the API's requests: a [`HookPhase::CustomAuth`] hook
    /// is among `hooks`, or the API switches plugin authentication on and names a bundle,
    /// whose manifest then must hold the `auth_check`.
    pub custom_auth: bool,
    /// `custom_middleware.timeout` (OAS: `pluginConfig.timeout`), Weir: the deadline for one
    /// hook call; `None` leaves the gateway's default.
    pub timeout: Option<Duration>,
    /// The configuration handed to plugins, as written (`Null` when unset or disabled): classic
    /// `config_data`, else `middleware_global_config[<bundle>]` (seed 000); OAS
    /// `pluginConfig.data.value` when `data.enabled`. A JSON string stays a string: drivers
    /// may hand it to plugins as raw bytes.
    pub config_data: Value,
    /// The plugin bundle's name when one is enabled (`custom_middleware_bundle` unless
    /// `custom_middleware_bundle_disabled`; OAS `pluginConfig.bundle.path` when enabled),
    /// as written; empty without one.
    pub bundle: String,
}

/// One hook of an API.
#[derive(Debug, Clone, PartialEq)]
pub struct HookDeclaration {
    /// Where in the request the hook runs.
    pub phase: HookPhase,
    /// `name` (OAS `functionName`; seed 000's `symbol_name` when `name` is empty): the function
    /// inside the plugin.
    pub name: String,
    /// `path`: the plugin's file (.so, .wasm), resolved against the definition's folder;
    /// `None` when not written (gRPC hooks).
    pub path: Option<PathBuf>,
    /// `raw_body_only` (OAS `rawBodyOnly`).
    pub raw_body_only: bool,
    /// `require_session` (OAS `requireSession`).
    pub require_session: bool,
}

/// The point of the request a hook runs at, in Tyk's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HookPhase {
    /// `pre` (OAS `prePlugins`): before authentication.
    Pre,
    /// `auth_check` (OAS `server.authentication.custom`): custom authentication.
    CustomAuth,
    /// `post_key_auth` (OAS `postAuthenticationPlugins`): after authentication.
    PostKeyAuth,
    /// `post` (OAS `postPlugins`): just before the upstream call.
    Post,
    /// `response` (OAS `responsePlugins`): on the upstream's response.
    Response,
    /// Weir: `driver_specific_middleware.<driver>_streams` (OAS `grpcMessagePlugins`): on
    /// each message of a gRPC call.
    GrpcMessage,
}

/// One hook entry as written, in either form's key names.
pub(crate) struct HookEntry<'a> {
    /// `name` / `functionName`.
    pub name: &'a str,
    /// Seed 000 names the Go symbol in `symbol_name` instead of `name`.
    pub symbol_name: &'a str,
    /// `path`.
    pub path: &'a str,
    /// `raw_body_only` / `rawBodyOnly`.
    pub raw_body_only: bool,
    /// `require_session` / `requireSession`.
    pub require_session: bool,
    /// `disabled: true` / `enabled: false`.
    pub off: bool,
}

impl HookEntry<'_> {
    /// The hook, unless it is switched off; a hook without a name is an error at
    /// `<field>.<name_key>`.
    pub(crate) fn declare(
        &self,
        phase: HookPhase,
        field: &str,
        name_key: &str,
        file: &Path,
        errors: &mut Vec<ConfigError>,
    ) -> Option<HookDeclaration> {
        if self.off {
            return None;
        }
        let name = if self.name.is_empty() {
            self.symbol_name
        } else {
            self.name
        };
        if name.is_empty() {
            errors.push(ConfigError::new(
                file,
                format!("{field}.{name_key}"),
                "a hook needs a name",
            ));
            return None;
        }
        let base = file.parent().unwrap_or(Path::new(""));
        Some(HookDeclaration {
            phase,
            name: name.to_string(),
            path: (!self.path.is_empty()).then(|| base.join(self.path)),
            raw_body_only: self.raw_body_only,
            require_session: self.require_session,
        })
    }
}

/// True when `hooks` holds a custom authentication hook.
pub(crate) fn has_custom_auth(hooks: &[HookDeclaration]) -> bool {
    hooks.iter().any(|h| h.phase == HookPhase::CustomAuth)
}

/// A hook flag. Tyk's Go types make these booleans: `"disabled": "true"` fails its load, so it
/// fails here too (rather than leave on a hook its author switched off), with a message that
/// says what is wanted.
pub(crate) fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    struct Flag;
    impl Visitor<'_> for Flag {
        type Value = bool;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("true or false")
        }
        fn visit_bool<E: Error>(self, v: bool) -> Result<bool, E> {
            Ok(v)
        }
    }
    d.deserialize_any(Flag)
}

/// [`flag`] for a key whose absence means something of its own (OAS `enabled`).
pub(crate) fn optional_flag<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    flag(d).map(Some)
}

/// `timeout`: a positive number of seconds (an integer or not).
pub(crate) fn seconds<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    struct Seconds;
    impl Seconds {
        fn check<E: Error>(self, s: f64, found: Unexpected) -> Result<Option<Duration>, E> {
            match Duration::try_from_secs_f64(s) {
                Ok(d) if !d.is_zero() => Ok(Some(d)),
                _ => Err(E::invalid_value(found, &self)),
            }
        }
    }
    impl Visitor<'_> for Seconds {
        type Value = Option<Duration>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a positive number of seconds")
        }
        fn visit_u64<E: Error>(self, v: u64) -> Result<Self::Value, E> {
            self.check(v as f64, Unexpected::Unsigned(v))
        }
        fn visit_i64<E: Error>(self, v: i64) -> Result<Self::Value, E> {
            self.check(v as f64, Unexpected::Signed(v))
        }
        fn visit_f64<E: Error>(self, v: f64) -> Result<Self::Value, E> {
            self.check(v, Unexpected::Float(v))
        }
    }
    d.deserialize_any(Seconds)
}
