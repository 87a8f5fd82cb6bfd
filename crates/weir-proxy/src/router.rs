//! The routing table: host first, then the listen path: static ones before `{name}` patterns,
//! each kind longest first (Tyk's `sortSpecsByListenPath`). Immutable once built; a reload
//! builds a new one and swaps it in whole.
//!
//! As in Tyk (api_loader.go `loadHTTPService`), every routed API is also served at
//! `/<api_id>/`, on the same host; such a request keeps its whole path (Tyk strips only the
//! listen path). Internal APIs are not routed at all: only `tyk://` loops reach them.

use std::collections::HashMap;
use std::sync::Arc;

use crate::api::CompiledApi;

/// One way into an API: its listen path, or `/<api_id>/`.
struct Entry {
    /// The path prefix, without a trailing '/' (a pattern's text for a pattern listen path).
    prefix: String,
    /// True for a listen path with `{name}` segments, matched by the API's `listen_path`.
    pattern: bool,
    /// The API.
    api: Arc<CompiledApi>,
    /// True for the `/<api_id>/` route, which needs the '/' after the prefix.
    by_id: bool,
}

/// APIs by domain, each list in matching order (static prefixes, then patterns; longest first).
#[derive(Default)]
pub struct RoutingTable {
    exact_domains: HashMap<String, Vec<Entry>>,
    wildcard_domains: Vec<(String, Vec<Entry>)>,
    any_domain: Vec<Entry>,
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
            if !api.def.active || api.def.looping.internal {
                continue;
            }
            for by_id in [false, true] {
                let prefix = match by_id {
                    false => api.listen_path.as_str().to_string(),
                    true => format!("/{}", api.def.api_id),
                };
                let entry = Entry {
                    prefix,
                    pattern: !by_id && api.listen_path.is_pattern(),
                    api: api.clone(),
                    by_id,
                };
                table.add(entry);
            }
        }
        let order = |e: &Entry| (e.pattern, std::cmp::Reverse(e.prefix.len()));
        table.any_domain.sort_by_key(order);
        for list in table.exact_domains.values_mut() {
            list.sort_by_key(order);
        }
        for (_, list) in table.wildcard_domains.iter_mut() {
            list.sort_by_key(order);
        }
        table
            .wildcard_domains
            .sort_by_key(|(suffix, _)| std::cmp::Reverse(suffix.len()));
        table.apis = apis;
        table
    }

    fn add(&mut self, entry: Entry) {
        match entry.api.def.domain.as_deref() {
            None | Some("") => self.any_domain.push(entry),
            Some(d) if d.starts_with("*.") => {
                let suffix = d[1..].to_string();
                match self.wildcard_domains.iter_mut().find(|(s, _)| *s == suffix) {
                    Some((_, list)) => list.push(entry),
                    None => self.wildcard_domains.push((suffix, vec![entry])),
                }
            }
            Some(d) => self
                .exact_domains
                .entry(d.to_string())
                .or_default()
                .push(entry),
        }
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

    fn match_in<'a>(&self, list: &'a [Entry], path: &'a str) -> Option<Route<'a>> {
        for entry in list {
            let Entry {
                prefix,
                api,
                by_id,
                pattern,
            } = entry;
            let prefix = prefix.as_str();
            if *by_id {
                // Tyk's `/<api_id>/` prefix: the path goes on as it came, bar a listen path.
                if path
                    .strip_prefix(prefix)
                    .is_some_and(|r| r.starts_with('/'))
                {
                    let rest = api.listen_path.strip_or_whole(path);
                    return Some(Route { api, rest });
                }
                continue;
            }
            if *pattern {
                // A pattern matches only at a segment boundary, strict routes or not.
                if let Some(rest) = api.listen_path.strip(path) {
                    return Some(Route { api, rest });
                }
                continue;
            }
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

    /// The API with this api_id, else the one with this name (how Tyk finds the API of a
    /// version, `findInternalHttpHandlerByNameOrID`).
    pub fn api_by_id_or_name(&self, id_or_name: &str) -> Option<Arc<CompiledApi>> {
        self.api(id_or_name)
            .or_else(|| self.apis.iter().find(|a| a.def.name == id_or_name))
            .cloned()
    }
}
