//! Weir's configuration loaders: Tyk gateway config (tyk.conf keys) and Tyk API definitions
//! (classic JSON and OAS with `x-tyk-api-gateway`), turned into the validated [`model`].
//!
//! Every problem is a [`ConfigError`] naming the file, the field and why, so an operator can
//! fix a definition without reading Weir's source. Loaders return all the problems they find
//! in a file, not only the first, where the document could be read at all.
//!
//! ```no_run
//! use std::path::Path;
//!
//! let gw = weir_config::load_gateway_config(Path::new("/etc/weir/tyk.conf")).unwrap();
//! for (file, result) in weir_config::load_app_dir(&gw.app_path) {
//!     match result {
//!         Ok(api) => println!("{}: {} on {}", file.display(), api.api_id, api.listen_path),
//!         Err(errors) => errors.iter().for_each(|e| eprintln!("{e}")),
//!     }
//! }
//! ```

#![warn(missing_docs)]

mod api;
mod appdir;
pub mod auth;
mod classic;
pub mod compat;
mod document;
pub mod endpoint_lists;
pub mod endpoints;
mod env;
pub mod error_overrides;
mod errors;
pub mod fuzzing;
mod gateway;
pub mod ip_access;
pub mod keys;
pub mod limits;
pub mod looping;
pub mod model;
mod oas;
pub mod plugin_settings;
mod plugins;
pub mod request_schema;
mod set;
pub mod transforms;
pub mod url_rewrites;
pub mod versioning;
pub mod virtual_endpoints;

pub use api::{
    apply_gateway_settings, load_api_file, parse_api_definition, refuse_unbuilt_plugins,
};
pub use appdir::load_app_dir;
pub use classic::{ManifestMiddleware, manifest_middleware};
pub use document::DocFormat;
pub use errors::ConfigError;
pub use gateway::{
    default_gateway_config, gateway_config_from_str, load_gateway_config,
    load_gateway_config_with_env, unknown_gateway_fields,
};
pub use model::*;
pub use set::check_api_set;
