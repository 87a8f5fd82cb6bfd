//! An API's size limits, request validation and enforced timeouts, compiled once per load.

use std::time::Duration;

use weir_config::plugin_settings::EndpointMatching;
use weir_config::{ApiDefinition, DefinitionFormat};

use crate::endpoint::{EndpointEntry, EndpointList};
use crate::phases::size_limit::CompiledSizeLimits;
use crate::request_validation::EndpointCheck;

/// Size limits, validation and timeouts of one API.
#[derive(Default)]
pub struct CompiledLimits {
    /// Request size limits, when the API has any.
    pub size: Option<CompiledSizeLimits>,
    /// Validated endpoints (`validate_json`, `validateRequest`).
    pub validation: EndpointList<EndpointCheck>,
    /// Per-endpoint enforced timeouts (`hard_timeouts`, `enforceTimeout`); zero defers to
    /// `enforce_timeout`.
    pub hard_timeouts: EndpointList<Duration>,
    /// The API-wide enforced timeout (`global_enforce_timeout`, `upstream.enforceTimeout`).
    pub enforce_timeout: Option<Duration>,
}

impl CompiledLimits {
    /// Compiles a definition's limits; an error is the field and why.
    pub fn compile(
        def: &ApiDefinition,
        matching: EndpointMatching,
    ) -> Result<Self, (String, String)> {
        let rules = &def.endpoints;
        // Which entry a bad pattern is in: the classic list index, or the OAS path.
        let field = |list: &str, path: &str, i: usize| match def.format {
            DefinitionFormat::Classic => format!("extended_paths.{list}[{i}].path"),
            DefinitionFormat::Oas => format!("paths.{path}"),
        };
        let size =
            CompiledSizeLimits::compile(def.limits.global_size_limit, &rules.size_limits, matching)
                .map_err(|(i, why)| {
                    (field("size_limits", &rules.size_limits[i].key.path, i), why)
                })?;
        let timeouts = rules
            .hard_timeouts
            .iter()
            .map(|t| EndpointEntry::new(&t.key, t.timeout))
            .collect();
        let hard_timeouts = EndpointList::compile(timeouts, matching).map_err(|(i, why)| {
            (
                field("hard_timeouts", &rules.hard_timeouts[i].key.path, i),
                why,
            )
        })?;
        Ok(CompiledLimits {
            size: size.is_on().then_some(size),
            validation: crate::request_validation::compile(&rules.validate, matching)?,
            hard_timeouts,
            enforce_timeout: def.limits.enforce_timeout,
        })
    }

    /// The time allowed for the upstream's response head on a request path (after the listen
    /// path) and method: the first matching endpoint timeout, else the API's, never more
    /// than the gateway's `proxy_default_timeout` (Tyk's transport keeps that limit).
    pub fn timeout_for(&self, path: &str, method: &str, default: Duration) -> Duration {
        let endpoint = self
            .hard_timeouts
            .find(path, method)
            .map(|(_, t)| *t)
            .filter(|t| !t.is_zero());
        endpoint
            .or(self.enforce_timeout)
            .map_or(default, |t| t.min(default))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(entries: &[(&str, &str, u64)], api: Option<u64>) -> CompiledLimits {
        let entries = entries
            .iter()
            .map(|(p, m, ms)| EndpointEntry {
                path: p.to_string(),
                method: m.to_string(),
                ignore_case: false,
                value: Duration::from_millis(*ms),
            })
            .collect();
        CompiledLimits {
            hard_timeouts: EndpointList::compile(entries, EndpointMatching::default()).unwrap(),
            enforce_timeout: api.map(Duration::from_millis),
            ..CompiledLimits::default()
        }
    }

    #[test]
    fn endpoint_then_api_then_default() {
        let d = Duration::from_secs(30);
        let l = limits(&[("/items/{id}", "GET", 100), ("/zero", "", 0)], Some(2000));
        assert_eq!(
            l.timeout_for("/items/7", "GET", d),
            Duration::from_millis(100)
        );
        assert_eq!(l.timeout_for("/items/7", "POST", d), Duration::from_secs(2));
        assert_eq!(l.timeout_for("/zero", "GET", d), Duration::from_secs(2));
        let none = limits(&[], None);
        assert_eq!(none.timeout_for("/x", "GET", d), d);
    }

    #[test]
    fn the_gateway_default_caps_enforced_timeouts() {
        let l = limits(&[("/long", "", 60_000)], None);
        let d = Duration::from_secs(5);
        assert_eq!(l.timeout_for("/long", "GET", d), d);
    }
}
