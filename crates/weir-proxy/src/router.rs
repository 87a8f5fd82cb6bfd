//! The routing table: host first, then the longest listen path. Immutable once built; a reload
//! builds a new one and swaps it in whole.

use std::collections::HashMap;
use std::sync::Arc;

use crate::api::CompiledApi;

/// APIs by domain, each list sorted longest listen path first.
#[derive(Default)]
pub struct RoutingTable {
    exact_domains: HashMap<String, Vec<Arc<CompiledApi>>>,
    wildcard_domains: Vec<(String, Vec<Arc<CompiledApi>>)>,
    any_domain: Vec<Arc<CompiledApi>>,
    strict: bool,
    /// Every loaded API, active or not, by api_id (for the control API).
    pub apis: Vec<Arc<CompiledApi>>,
}

/// A routing decision.
pub struct Route<'a> {
    /// The API.
    pub api: &'a Arc<CompiledApi>,
    /// The request path with the listen path removed ("" or starting with '/').
    pub rest: &'a str,
}

impl RoutingTable {
    /// Builds the table. `strict` = `enable_strict_routes`: listen paths match only at a segment boundary.
    pub fn new(apis: Vec<Arc<CompiledApi>>, strict: bool) -> Self {
        let mut table = RoutingTable {
            strict,
            ..Default::default()
        };
        for api in &apis {
            if !api.def.active {
                continue;
            }
            match api.def.domain.as_deref() {
                None | Some("") => table.any_domain.push(api.clone()),
                Some(d) if d.starts_with("*.") => {
                    let suffix = d[1..].to_string();
                    match table
                        .wildcard_domains
                        .iter_mut()
                        .find(|(s, _)| *s == suffix)
                    {
                        Some((_, list)) => list.push(api.clone()),
                        None => table.wildcard_domains.push((suffix, vec![api.clone()])),
                    }
                }
                Some(d) => table
                    .exact_domains
                    .entry(d.to_string())
                    .or_default()
                    .push(api.clone()),
            }
        }
        let by_len = |a: &Arc<CompiledApi>, b: &Arc<CompiledApi>| {
            b.match_prefix.len().cmp(&a.match_prefix.len())
        };
        table.any_domain.sort_by(by_len);
        for list in table.exact_domains.values_mut() {
            list.sort_by(by_len);
        }
        for (_, list) in table.wildcard_domains.iter_mut() {
            list.sort_by(by_len);
        }
        table
            .wildcard_domains
            .sort_by_key(|(suffix, _)| std::cmp::Reverse(suffix.len()));
        table.apis = apis;
        table
    }

    /// Finds the API for a host (lower-case, no port) and path.
    pub fn route<'a>(&'a self, host: &str, path: &'a str) -> Option<Route<'a>> {
        if let Some(list) = self.exact_domains.get(host)
            && let Some(r) = self.match_in(list, path)
        {
            return Some(r);
        }
        for (suffix, list) in &self.wildcard_domains {
            if host.ends_with(suffix.as_str())
                && let Some(r) = self.match_in(list, path)
            {
                return Some(r);
            }
        }
        self.match_in(&self.any_domain, path)
    }

    fn match_in<'a>(&self, list: &'a [Arc<CompiledApi>], path: &'a str) -> Option<Route<'a>> {
        for api in list {
            let prefix = api.match_prefix.as_str();
            if let Some(rest) = path.strip_prefix(prefix) {
                // Tyk matches listen paths as plain prefixes ("/app" serves "/apple") unless
                // strict routes are on.
                if rest.is_empty() || rest.starts_with('/') || !self.strict || prefix.is_empty() {
                    return Some(Route { api, rest });
                }
            }
        }
        None
    }

    /// Looks an API up by id.
    pub fn api(&self, api_id: &str) -> Option<&Arc<CompiledApi>> {
        self.apis.iter().find(|a| a.def.api_id == api_id)
    }
}
