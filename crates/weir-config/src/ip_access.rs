//! IP allow and block lists: classic `enable_ip_whitelisting` + `allowed_ips`,
//! `enable_ip_blacklisting` + `blacklisted_ips` and `ip_access_control_disabled`; OAS
//! `x-tyk-api-gateway.server.ipAccessControl` `{enabled, allow, block}`.
//!
//! Entries are single addresses or CIDR ranges, IPv4 or IPv6, parsed once here; a bad entry
//! refuses the API naming the list and the index.
//!
//! When a list acts follows Tyk's gateway (mw_ip_whitelist.go, mw_ip_blacklist.go): a
//! non-empty list acts unless `ip_access_control_disabled` is true and the list's own
//! `enable_ip_*` switch is off. OAS `enabled: false` is `ip_access_control_disabled: true`.

use std::net::IpAddr;
use std::path::Path;

use ipnet::IpNet;
use serde_json::Value;

use crate::errors::ConfigError;

/// The compiled IP lists of an API; both empty means the check is off.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct IpAccess {
    /// Only these may call (empty = anyone).
    pub allow: Vec<IpNet>,
    /// These may not call, even when allowed.
    pub block: Vec<IpNet>,
    /// The gateway's `trust_x_forwarded_headers`: the client is `X-Real-IP`, else the first
    /// `X-Forwarded-For` entry, rather than the TCP peer (set by `apply_gateway_settings`).
    pub trust_forwarded: bool,
}

impl IpAccess {
    /// True when a list acts on requests.
    pub fn is_on(&self) -> bool {
        !self.allow.is_empty() || !self.block.is_empty()
    }

    /// Whether `ip` may call the API. An IPv4-mapped IPv6 address counts as its IPv4 form.
    pub fn allows(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        let hit = |list: &[IpNet]| list.iter().any(|net| net.contains(&ip));
        (self.allow.is_empty() || hit(&self.allow)) && !hit(&self.block)
    }
}

/// Reads the classic lists.
pub fn classic(doc: &Value, file: &Path, errors: &mut Vec<ConfigError>) -> IpAccess {
    let flag = |k: &str| doc.get(k).and_then(Value::as_bool) == Some(true);
    let disabled = flag("ip_access_control_disabled");
    let list = |switch: &str, key: &str, errors: &mut Vec<ConfigError>| {
        if disabled && !flag(switch) {
            return Vec::new();
        }
        parse_list(doc.get(key), key, file, errors)
    };
    IpAccess {
        allow: list("enable_ip_whitelisting", "allowed_ips", errors),
        block: list("enable_ip_blacklisting", "blacklisted_ips", errors),
        trust_forwarded: false,
    }
}

/// Reads OAS `server.ipAccessControl`.
pub fn oas(doc: &Value, file: &Path, errors: &mut Vec<ConfigError>) -> IpAccess {
    let Some(block) = doc.pointer("/x-tyk-api-gateway/server/ipAccessControl") else {
        return IpAccess::default();
    };
    if !crate::endpoints::enabled(block) {
        return IpAccess::default();
    }
    let base = "x-tyk-api-gateway.server.ipAccessControl";
    IpAccess {
        allow: parse_list(block.get("allow"), &format!("{base}.allow"), file, errors),
        block: parse_list(block.get("block"), &format!("{base}.block"), file, errors),
        trust_forwarded: false,
    }
}

/// Parses a list of addresses and ranges; each bad entry is an error naming `field[i]`.
fn parse_list(
    value: Option<&Value>,
    field: &str,
    file: &Path,
    errors: &mut Vec<ConfigError>,
) -> Vec<IpNet> {
    let entries = match value {
        None | Some(Value::Null) => return Vec::new(),
        Some(Value::Array(entries)) => entries,
        Some(_) => {
            errors.push(ConfigError::new(
                file,
                field,
                "expected a list of IP addresses",
            ));
            return Vec::new();
        }
    };
    let mut nets = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        match entry.as_str().map(parse_entry) {
            Some(Ok(net)) => nets.push(net),
            Some(Err(reason)) => {
                errors.push(ConfigError::new(file, format!("{field}[{i}]"), reason))
            }
            None => errors.push(ConfigError::new(
                file,
                format!("{field}[{i}]"),
                "expected a string (an IP address or a CIDR range)",
            )),
        }
    }
    nets
}

/// One entry: `10.0.0.1`, `10.0.0.0/8`, `2001:db8::1`, `2001:db8::/32`. A range written with
/// host bits set (`10.1.2.3/8`) means its network, as in Go's `net.ParseCIDR`.
pub fn parse_entry(text: &str) -> Result<IpNet, String> {
    let t = text.trim();
    let bad = || format!("`{text}` is not an IP address or a CIDR range");
    if t.contains('/') {
        let net: IpNet = t.parse().map_err(|_| bad())?;
        // A range of IPv4-mapped IPv6 addresses matches the IPv4 clients it covers.
        if let IpNet::V6(v6) = net
            && let Some(v4) = v6.addr().to_ipv4_mapped()
            && v6.prefix_len() >= 96
        {
            return ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96)
                .map(|n| IpNet::V4(n.trunc()))
                .map_err(|_| bad());
        }
        return Ok(net.trunc());
    }
    let ip: IpAddr = t.parse().map_err(|_| bad())?;
    Ok(IpNet::from(ip.to_canonical()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn file() -> &'static Path {
        Path::new("api.json")
    }

    #[test]
    fn entries_are_addresses_or_ranges() {
        assert_eq!(parse_entry("10.1.2.3/8").unwrap().to_string(), "10.0.0.0/8");
        assert_eq!(
            parse_entry(" 127.0.0.1 ").unwrap().to_string(),
            "127.0.0.1/32"
        );
        assert_eq!(parse_entry("::1").unwrap().to_string(), "::1/128");
        assert_eq!(
            parse_entry("::ffff:10.0.0.1").unwrap().to_string(),
            "10.0.0.1/32"
        );
        assert_eq!(
            parse_entry("::ffff:10.0.0.0/104").unwrap().to_string(),
            "10.0.0.0/8"
        );
        assert_eq!(
            parse_entry("2001:db8::/32").unwrap().to_string(),
            "2001:db8::/32"
        );
        for bad in ["10.0.0.0/33", "10.0.0", "host.example", "", "10.0.0.1/"] {
            assert!(parse_entry(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn allow_then_block_and_block_wins() {
        let access = IpAccess {
            allow: vec![
                parse_entry("10.0.0.0/8").unwrap(),
                parse_entry("2001:db8::/32").unwrap(),
            ],
            block: vec![parse_entry("10.9.9.9").unwrap()],
            trust_forwarded: false,
        };
        assert!(access.allows(ip("10.1.2.3")));
        assert!(access.allows(ip("::ffff:10.1.2.3")));
        assert!(access.allows(ip("2001:db8::7")));
        assert!(!access.allows(ip("10.9.9.9")));
        assert!(!access.allows(ip("11.0.0.1")));
        assert!(!access.allows(ip("2001:db9::1")));
        let block_only = IpAccess {
            block: vec![parse_entry("127.0.0.1").unwrap()],
            ..IpAccess::default()
        };
        assert!(!block_only.allows(ip("127.0.0.1")));
        assert!(!block_only.allows(ip("::ffff:127.0.0.1")));
        assert!(block_only.allows(ip("127.0.0.2")));
    }

    #[test]
    fn classic_lists_act_as_in_tyk() {
        let mut errors = Vec::new();
        let on = json!({"enable_ip_whitelisting": true, "allowed_ips": ["10.0.0.0/8"],
            "blacklisted_ips": ["10.0.0.1"]});
        let a = classic(&on, file(), &mut errors);
        // Tyk acts on a non-empty list unless ip_access_control_disabled (and its switch off).
        assert_eq!((a.allow.len(), a.block.len()), (1, 1));
        let off = json!({"ip_access_control_disabled": true, "enable_ip_whitelisting": true,
            "allowed_ips": ["10.0.0.0/8"], "blacklisted_ips": ["10.0.0.1"]});
        let a = classic(&off, file(), &mut errors);
        assert_eq!((a.allow.len(), a.block.len()), (1, 0));
        assert!(errors.is_empty());
        let bad =
            json!({"enable_ip_blacklisting": true, "blacklisted_ips": ["1.2.3.4", "1.2.3.4/40"]});
        classic(&bad, file(), &mut errors);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "blacklisted_ips[1]");
    }

    #[test]
    fn oas_block_needs_enabled() {
        let mut errors = Vec::new();
        let doc = |enabled: bool| {
            json!({"x-tyk-api-gateway": {"server": {"ipAccessControl": {
                "enabled": enabled, "allow": ["::1"], "block": ["nope"]}}}})
        };
        assert!(!oas(&doc(false), file(), &mut errors).is_on());
        assert!(errors.is_empty());
        oas(&doc(true), file(), &mut errors);
        assert_eq!(errors.len(), 1);
        assert_eq!(
            errors[0].field,
            "x-tyk-api-gateway.server.ipAccessControl.block[0]"
        );
    }
}
