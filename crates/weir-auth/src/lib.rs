//! Keys and sessions as Tyk keeps them (issue 14, in progress): the session object
//! ([`session::Session`]), key tokens and the hashes that name them at rest ([`token`]), and
//! the store that holds sessions ([`store`]), in memory on one node; the key checks
//! ([`checks`]) and exact rate limits and quotas on one node ([`limits`]) and across nodes
//! sharing one Redis ([`redis_limits`]).

#![warn(missing_docs)]

pub mod basic;
pub mod checks;
pub mod jwt;
pub mod limits;
pub mod policy;
pub mod redis_connect;
pub mod redis_limits;
mod redis_sentinel;
pub mod redis_store;
pub mod service;
pub mod session;
mod session_cache;
pub mod store;
pub mod token;
