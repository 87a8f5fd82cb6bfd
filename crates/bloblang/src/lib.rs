//! Bloblang, the mapping language of Bento / Benthos (and so of Tyk Streams), in Rust.
//!
//! This crate knows nothing of Weir. A mapping compiles once and runs on many messages:
//!
//! ```
//! use bloblang::{Mapping, Message};
//!
//! let m = Mapping::compile("root.id = this.id\nroot.total = this.price * this.qty").unwrap();
//! let msg = Message { content: br#"{"id":"a","price":2.5,"qty":4}"#.to_vec(), ..Message::default() };
//! let out = m.run_message(&msg).unwrap();
//! assert_eq!(out.content(&msg.content).unwrap().unwrap(), br#"{"id":"a","total":10}"#);
//! ```
//!
//! Layout:
//! - [`value`]: the value model (int64 / uint64 / float64 / JSON-number text kept as
//!   Go keeps `json.Number`, bytes, sorted objects, the `deleted()` / `nothing()`
//!   sentinels). Clone, drop and equality are iterative: values may nest 10,000 deep.
//! - [`json`]: JSON in and out exactly as Go's `encoding/json` does it.
//! - [`lexer`], [`parser`], [`ast`]: the V1 grammar (Bento dialect, with bracket
//!   indexing), syntax errors with line, column and a caret ([`CompileError::render`]).
//! - [`interp`]: compile-time folding and name checks, the interpreter, imports,
//!   batches and `${! }` interpolation ([`Interpolation`]).
//!
//! Limits, each an error rather than a crash: query nesting [`parser::MAX_NESTING`],
//! JSON depth [`json::MAX_JSON_DEPTH`], `.apply()` recursion
//! [`interp::MAX_APPLY_DEPTH`], `.apply()` calls per run [`interp::MAX_APPLICATIONS`],
//! a native-stack budget [`interp::STACK_BUDGET`],
//! import chains [`interp::MAX_IMPORT_DEPTH`], the work of one run
//! [`interp::budget::MAX_WORK`].

#![warn(missing_docs)]

pub mod ast;
pub mod encoding;
pub mod error;
pub mod fuzzing;
pub mod interp;
pub mod json;
pub mod lexer;
pub mod object;
pub mod parser;
pub mod time;
pub mod value;

pub use error::CompileError;
pub use interp::{ErrorSource, ExecError, Interpolation, Mapping, Message, Output};
pub use parser::parse;
pub use value::{Num, Object, Value};
