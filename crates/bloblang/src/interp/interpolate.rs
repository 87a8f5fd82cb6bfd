//! `${! query }` interpolation in config strings (§1.8), for the stream engine.

use super::exec::{Counters, ExecError, Message, eval_on_message};
use super::fold;
use crate::ast::Expr;
use crate::error::CompileError;
use crate::json::to_go_string;
use std::sync::Arc;

/// A compiled interpolated string.
#[derive(Debug, Clone)]
pub struct Interpolation {
    parts: Vec<Part>,
    counters: Arc<Counters>,
}

#[derive(Debug, Clone)]
enum Part {
    Text(String),
    Query(Expr),
}

impl Interpolation {
    /// Compiles a template. `${! q }` is a query; `${{! x }}` is the literal text
    /// `${! x }`; any other `$` is kept as it is.
    pub fn compile(template: &str) -> Result<Interpolation, CompileError> {
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut i = 0;
        while let Some(off) = template[i..].find("${") {
            let at = i + off;
            text.push_str(&template[i..at]);
            let rest = &template[at..];
            if rest.starts_with("${{!") {
                let end = rest.find("}}").ok_or_else(|| {
                    CompileError::at(
                        template,
                        template.len(),
                        "required: expected end of escaped expression",
                    )
                })?;
                text.push_str("${");
                text.push_str(&rest[3..end]);
                text.push('}');
                i = at + end + 2;
            } else if rest.starts_with("${!") {
                if !text.is_empty() {
                    parts.push(Part::Text(std::mem::take(&mut text)));
                }
                // `${! q }`: spaces may pad the query on both sides.
                let inner = &template[at + 3..];
                let start = at + 3 + inner.len() - inner.trim_start_matches([' ', '\t']).len();
                let (mut q, end) = crate::parser::parse_query_at(template, start)?;
                let close = end + template[end..].len()
                    - template[end..].trim_start_matches([' ', '\t']).len();
                if !template[close..].starts_with('}') {
                    return Err(CompileError::at(
                        template,
                        close,
                        "required: expected end of expression",
                    ));
                }
                fold::fold(&mut q, template)?;
                parts.push(Part::Query(q));
                i = close + 1;
            } else {
                text.push_str("${");
                i = at + 2;
            }
        }
        text.push_str(&template[i..]);
        if !text.is_empty() {
            parts.push(Part::Text(text));
        }
        Ok(Interpolation {
            parts,
            counters: Arc::default(),
        })
    }

    /// True when the template has no queries, so it renders the same for every message.
    pub fn is_static(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Text(_)))
    }

    /// Renders the template for one message; query results go through Bento's
    /// string conversion.
    pub fn render(&self, msg: &Message) -> Result<String, ExecError> {
        self.render_in_batch(std::slice::from_ref(msg), 0)
    }

    /// Renders for message `index` of `batch` (for `batch_index()` and `.from(i)`).
    pub fn render_in_batch(&self, batch: &[Message], index: usize) -> Result<String, ExecError> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Query(q) => {
                    let v =
                        eval_on_message(q, batch, index, &self.counters).map_err(|message| {
                            ExecError {
                                message,
                                line: None,
                            }
                        })?;
                    out.push_str(&to_go_string(&v));
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(t: &str, input: &str) -> Result<String, String> {
        let i = Interpolation::compile(t).map_err(|e| e.message)?;
        let msg = Message {
            content: input.as_bytes().to_vec(),
            ..Message::default()
        };
        i.render(&msg).map_err(|e| e.message)
    }

    #[test]
    fn static_text_and_escapes() {
        assert_eq!(render("a $ b $", "").unwrap(), "a $ b $");
        assert_eq!(
            render("hello ${{!this is escaped}} world", "").unwrap(),
            "hello ${!this is escaped} world"
        );
        assert!(Interpolation::compile("plain").unwrap().is_static());
        assert_eq!(render("", "").unwrap(), "");
    }

    #[test]
    fn queries_render_with_go_string_conversion() {
        assert_eq!(
            render("${!json(\"foo\")}", r#"{"foo":"bar"}"#).unwrap(),
            "bar"
        );
        assert_eq!(
            render("${!json(\"foo\")   }", r#"{"foo":{"bar":"baz"}}"#).unwrap(),
            r#"{"bar":"baz"}"#
        );
        assert_eq!(
            render("n=${! this.n * 2 }!", r#"{"n":2.5}"#).unwrap(),
            "n=5!"
        );
        assert_eq!(render("${! {\"a\": 1}.a }", "{}").unwrap(), "1");
    }

    #[test]
    fn errors() {
        assert_eq!(
            render("static ${!not a function} x", "").unwrap_err(),
            "required: expected end of expression"
        );
        assert_eq!(
            render("x ${!not_a_function()} y", "").unwrap_err(),
            "unrecognised function 'not_a_function'"
        );
        assert_eq!(
            render("foo ${!json(\"foo} bar", "").unwrap_err(),
            "required: expected end quote"
        );
        assert_eq!(
            render("ends ${{!unfinished", "").unwrap_err(),
            "required: expected end of escaped expression"
        );
    }
}
