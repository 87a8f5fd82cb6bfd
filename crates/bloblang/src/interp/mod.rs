//! The interpreter: compiled mappings run over the value model.

mod assign;
pub mod budget;
mod eval;
mod exec;
mod fold;
mod functions;
mod ids;
mod import;
mod interpolate;
mod methods;
mod methods_coll;
mod methods_ext;
mod methods_fmt;
mod methods_hash;
mod methods_p1;
mod methods_parse;
mod methods_re;
mod methods_str;
mod methods_time;
mod methods_url;
mod methods_yaml;
mod moves;
mod names;
mod ops;
mod sigs;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_p1;

pub use exec::{
    ErrorSource, ExecError, MAX_APPLICATIONS, MAX_APPLY_DEPTH, Mapping, Message, Output,
    STACK_BUDGET,
};
pub use import::{FsImporter, Importer, MAX_IMPORT_DEPTH, MemoryImporter};
pub use interpolate::Interpolation;
