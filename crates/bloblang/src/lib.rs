//! Bloblang, the mapping language of Bento / Benthos (and so of Tyk Streams), in Rust.
//!
//! This crate knows nothing of Weir. It provides a value model with Bento's semantics
//! ([`Value`]), JSON parsing and printing byte-for-byte as Bento prints it ([`json`]),
//! and a lexer and parser for the V1 grammar ([`parse`]).

pub mod json;
pub mod value;

pub use value::{Num, Object, Value};
pub mod ast;
pub mod encoding;
pub mod error;
pub mod lexer;
pub mod parser;
pub mod time;

pub use error::CompileError;
pub use parser::parse;
pub mod interp;

pub use interp::{ExecError, Interpolation, Mapping, Message, Output};
