//! The claims Tyk reads after the signature: the time claims with their skews, the identity
//! and the policy.

use serde_json::{Map, Value};

use super::{
    EMPTY_IDENTITY_FIELD, EMPTY_SUB, NO_IDENTITY, NO_MATCHING_POLICY_FOUND, TOKEN_EXPIRED,
    TOKEN_NOT_VALID_YET, TOKEN_USED_BEFORE_ISSUED,
};
use crate::checks::Refusal;

/// The validation skews, in seconds.
pub(super) struct Skews {
    exp: i64,
    iat: i64,
    nbf: i64,
}

impl Skews {
    pub(super) fn new(exp: u64, iat: u64, nbf: u64) -> Self {
        let secs = |s: u64| i64::try_from(s).unwrap_or(i64::MAX);
        Skews {
            exp: secs(exp),
            iat: secs(iat),
            nbf: secs(nbf),
        }
    }
}

/// One time claim as Tyk's JWT library (golang-jwt v4 MapClaims) sees it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum TimeClaim {
    /// Absent, or 0: not checked.
    Absent,
    /// Whole seconds (fractions dropped).
    At(i64),
    /// Present but not a number (null included): fails its check.
    Invalid,
}

impl TimeClaim {
    fn read(claims: &Map<String, Value>, name: &str) -> Self {
        match claims.get(name) {
            None => TimeClaim::Absent,
            Some(Value::Number(n)) => match n.as_f64() {
                Some(0.0) => TimeClaim::Absent,
                // `as` saturates, so absurd values stay ordered.
                Some(f) => TimeClaim::At(f.floor() as i64),
                None => TimeClaim::Invalid,
            },
            Some(_) => TimeClaim::Invalid,
        }
    }

    /// `exp`: valid while `now - skew` is before it.
    fn before(self, now: i64) -> bool {
        match self {
            TimeClaim::Absent => true,
            TimeClaim::At(t) => now < t,
            TimeClaim::Invalid => false,
        }
    }

    /// `iat` and `nbf`: valid once `now + skew` reaches them.
    fn reached(self, now: i64) -> bool {
        match self {
            TimeClaim::Absent => true,
            TimeClaim::At(t) => now >= t,
            TimeClaim::Invalid => false,
        }
    }
}

/// `exp`, `iat` and `nbf` of a token.
#[derive(Clone, Copy, Debug)]
pub(super) struct Times {
    exp: TimeClaim,
    iat: TimeClaim,
    nbf: TimeClaim,
}

impl Times {
    pub(super) fn read(claims: &Map<String, Value>) -> Self {
        Times {
            exp: TimeClaim::read(claims, "exp"),
            iat: TimeClaim::read(claims, "iat"),
            nbf: TimeClaim::read(claims, "nbf"),
        }
    }

    /// Tyk checks all three and reports the last failure, so `nbf` wins over `iat` over `exp`.
    pub(super) fn check(&self, now: i64, skews: &Skews) -> Result<(), Refusal> {
        if !self.nbf.reached(now.saturating_add(skews.nbf)) {
            return Err(TOKEN_NOT_VALID_YET);
        }
        if !self.iat.reached(now.saturating_add(skews.iat)) {
            return Err(TOKEN_USED_BEFORE_ISSUED);
        }
        if !self.exp.before(now.saturating_sub(skews.exp)) {
            return Err(TOKEN_EXPIRED);
        }
        Ok(())
    }
}

/// A non-empty string claim: the literal name first, then, for `a.b`, a walk into objects.
fn string_claim<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    nonempty(claims.get(name)).or_else(|| nonempty(nested(claims, name)))
}

fn nonempty(value: Option<&Value>) -> Option<&str> {
    value.and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn nested<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    if !name.contains('.') {
        return None;
    }
    let mut parts = name.split('.');
    let mut value = claims.get(parts.next()?)?;
    for part in parts {
        value = value.as_object()?.get(part)?;
    }
    Some(value)
}

fn is_empty_string(value: Option<&Value>) -> bool {
    value.and_then(Value::as_str) == Some("")
}

/// The identity base field's value, else `sub` (Tyk's getUserIDFromClaim).
pub(super) fn identity(claims: &Map<String, Value>, field: &str) -> Result<String, Refusal> {
    if !field.is_empty() {
        if let Some(id) = string_claim(claims, field) {
            return Ok(id.to_owned());
        }
        if is_empty_string(claims.get(field)) || is_empty_string(nested(claims, field)) {
            return Err(EMPTY_IDENTITY_FIELD);
        }
    }
    match claims.get("sub").and_then(Value::as_str) {
        Some("") => Err(EMPTY_SUB),
        Some(sub) => Ok(sub.to_owned()),
        None => Err(NO_IDENTITY),
    }
}

/// The policies a token asks for, and the client id when the client field decides (Tyk's
/// getBasePolicyID, then the default policies).
pub(super) fn policies(
    claims: &Map<String, Value>,
    policy_field: &str,
    client_field: &str,
    defaults: &[String],
) -> Result<(Vec<String>, Option<String>), Refusal> {
    let mut client_id = None;
    if !policy_field.is_empty() {
        let from_token = policy_claim(claims, policy_field);
        if !from_token.is_empty() {
            return Ok((from_token, None));
        }
    } else if !client_field.is_empty() {
        // Tyk reads this one claim literally (no walk into objects).
        client_id = nonempty(claims.get(client_field)).map(str::to_owned);
    }
    if defaults.is_empty() && client_id.is_none() {
        return Err(NO_MATCHING_POLICY_FOUND);
    }
    Ok((defaults.to_vec(), client_id))
}

/// The policy claim: a string as in Tyk, or (our extension) an array of strings.
fn policy_claim(claims: &Map<String, Value>, field: &str) -> Vec<String> {
    if let Some(id) = string_claim(claims, field) {
        return vec![id.to_owned()];
    }
    let list = claims.get(field).or_else(|| nested(claims, field));
    let Some(Value::Array(items)) = list else {
        return Vec::new();
    };
    let mut ids: Vec<String> = Vec::with_capacity(items.len());
    for id in items.iter().filter_map(Value::as_str) {
        if !id.is_empty() && !ids.iter().any(|known| known == id) {
            ids.push(id.to_owned());
        }
    }
    ids
}
