//! Transforms without bodies, compiled for the request path: header values with their
//! placeholders parsed, per-path header rules and method transforms in [`EndpointList`]s.
//! The phases are `phases::headers`, `phases::method_transform` and `phases::context_vars`.

use http::Method;
use http::header::{HeaderName, HeaderValue};
use weir_config::plugin_settings::EndpointMatching;
use weir_config::transforms::HeaderTransform;
use weir_config::{ApiDefinition, DefinitionFormat};

use crate::context_vars::Template;
use crate::endpoint::{EndpointEntry, EndpointList};
use crate::exchange::Exchange;

/// A header value: fixed, or a template rendered per request.
#[derive(Debug, Clone)]
pub enum HeaderText {
    /// No placeholder: the value as written.
    Fixed(HeaderValue),
    /// `$tyk_context.*` / `$tyk_meta.*` placeholders, filled per request.
    Template(Template),
}

impl HeaderText {
    /// Parses a configured header value.
    pub fn compile(value: &str) -> Result<Self, String> {
        let template = Template::parse(value);
        if template.is_literal() {
            return HeaderValue::from_str(value)
                .map(HeaderText::Fixed)
                .map_err(|_| format!("`{value}` is not a valid header value"));
        }
        Ok(HeaderText::Template(template))
    }

    /// The value for this request; `None` when a filled-in value cannot be a header value
    /// (a control character from the request or the session), and the header is not set.
    pub fn value(&self, ex: &Exchange<'_>) -> Option<HeaderValue> {
        match self {
            HeaderText::Fixed(v) => Some(v.clone()),
            HeaderText::Template(t) => HeaderValue::from_bytes(t.render(ex).as_bytes()).ok(),
        }
    }
}

/// Headers to remove, then headers to set.
#[derive(Debug, Clone, Default)]
pub struct HeaderOps {
    /// Removed.
    pub remove: Vec<HeaderName>,
    /// Set, replacing any value.
    pub set: Vec<(HeaderName, HeaderText)>,
}

impl HeaderOps {
    /// Validates names and parses values.
    pub fn compile(remove: &[String], set: &[(String, String)]) -> Result<Self, String> {
        let name = |n: &str| {
            HeaderName::from_bytes(n.as_bytes())
                .map_err(|_| format!("`{n}` is not a valid header name"))
        };
        Ok(HeaderOps {
            remove: remove.iter().map(|n| name(n)).collect::<Result<_, _>>()?,
            set: set
                .iter()
                .map(|(n, v)| Ok((name(n)?, HeaderText::compile(v)?)))
                .collect::<Result<_, String>>()?,
        })
    }

    /// True when there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.remove.is_empty() && self.set.is_empty()
    }
}

/// An API's transforms.
#[derive(Debug, Default)]
pub struct CompiledTransforms {
    /// Capture context variables for each request.
    pub context_vars: bool,
    /// Per-path request header rules.
    pub request_headers: EndpointList<HeaderOps>,
    /// Per-path response header rules.
    pub response_headers: EndpointList<HeaderOps>,
    /// Per-path method transforms.
    pub methods: EndpointList<Method>,
}

impl CompiledTransforms {
    /// Compiles the definition's transforms; an error names the field and why.
    pub fn compile(
        def: &ApiDefinition,
        matching: EndpointMatching,
    ) -> Result<Self, (String, String)> {
        let rules = &def.endpoints;
        // Which entry is bad: the classic list index, or the OAS operation's block.
        let field = |list: &str, oas: &str, path: &str, i: usize| match def.format {
            DefinitionFormat::Classic => format!("extended_paths.{list}[{i}]"),
            DefinitionFormat::Oas => format!("paths.{path}: {oas}"),
        };
        let headers = |list: &[HeaderTransform], classic: &str, oas: &str| {
            let mut entries = Vec::with_capacity(list.len());
            for (i, t) in list.iter().enumerate() {
                let ops = HeaderOps::compile(&t.remove, &t.set)
                    .map_err(|why| (field(classic, oas, &t.key.path, i), why))?;
                entries.push(EndpointEntry::new(&t.key, ops));
            }
            EndpointList::compile(entries, matching)
                .map_err(|(i, why)| (field(classic, oas, &list[i].key.path, i), why))
        };
        let request_headers = headers(
            &rules.request_headers,
            "transform_headers",
            "transformRequestHeaders",
        )?;
        let response_headers = headers(
            &rules.response_headers,
            "transform_response_headers",
            "transformResponseHeaders",
        )?;
        let mut methods = Vec::with_capacity(rules.method_transforms.len());
        for (i, m) in rules.method_transforms.iter().enumerate() {
            let to = Method::from_bytes(m.to_method.as_bytes()).map_err(|_| {
                let f = field(
                    "method_transforms",
                    "transformRequestMethod",
                    &m.key.path,
                    i,
                );
                (f, format!("`{}` is not a method", m.to_method))
            })?;
            methods.push(EndpointEntry::new(&m.key, to));
        }
        let methods = EndpointList::compile(methods, matching).map_err(|(i, why)| {
            let path = &rules.method_transforms[i].key.path;
            (
                field("method_transforms", "transformRequestMethod", path, i),
                why,
            )
        })?;
        Ok(CompiledTransforms {
            context_vars: def.context_vars,
            request_headers,
            response_headers,
            methods,
        })
    }

    /// Links the per-path rules' endpoints to their API's index.
    pub fn link(&mut self, index: &mut crate::endpoint::IndexBuilder) {
        self.request_headers.link(index);
        self.response_headers.link(index);
        self.methods.link(index);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::{Features, Lifecycle, RequestPhase as Rq, ResponsePhase as Rs};

    fn list<T>(path: &str, method: &str, value: T) -> EndpointList<T> {
        let e = EndpointEntry {
            path: path.into(),
            method: method.into(),
            ignore_case: false,
            value,
        };
        EndpointList::compile(vec![e], EndpointMatching::default()).unwrap()
    }

    #[test]
    fn values_without_placeholders_are_fixed_at_load() {
        assert!(matches!(
            HeaderText::compile("plain $5").unwrap(),
            HeaderText::Fixed(_)
        ));
        assert!(matches!(
            HeaderText::compile("id:$tyk_context.request_id").unwrap(),
            HeaderText::Template(_)
        ));
        assert!(HeaderText::compile("bad\nvalue").is_err());
        let ops = HeaderOps::compile(&["X-Drop".into()], &[("X-A".into(), "1".into())]).unwrap();
        assert_eq!(ops.remove, [HeaderName::from_static("x-drop")]);
        assert!(HeaderOps::compile(&["no spaces".into()], &[]).is_err());
    }

    #[test]
    fn transforms_place_their_phases_in_tyks_order() {
        let t = CompiledTransforms {
            context_vars: true,
            request_headers: EndpointList::default(),
            response_headers: list("/a", "GET", HeaderOps::default()),
            methods: list("/a", "GET", Method::POST),
        };
        let l = Lifecycle::compile(&Features {
            transforms: Some(&t),
            url_rewrites: true,
            ..Features::default()
        });
        // Response rules need the original path, recorded by the request header phase.
        assert_eq!(
            l.request,
            [
                Rq::ContextVars,
                Rq::RequestHeaders,
                Rq::UrlRewrite,
                Rq::MethodTransform
            ]
        );
        assert_eq!(l.response, [Rs::ResponseHeaders]);
        let none = CompiledTransforms::default();
        let l = Lifecycle::compile(&Features {
            transforms: Some(&none),
            ..Features::default()
        });
        assert_eq!(l, Lifecycle::default());
    }
}
