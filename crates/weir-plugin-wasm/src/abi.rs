//! Proxy-Wasm ABI v0.2.1 constants and wire formats (spec §Types, §Serialization).

/// `proxy_status_t` values.
pub mod status {
    pub const OK: i32 = 0;
    pub const NOT_FOUND: i32 = 1;
    pub const BAD_ARGUMENT: i32 = 2;
    pub const PARSE_FAILURE: i32 = 4;
    pub const INVALID_MEMORY_ACCESS: i32 = 6;
    pub const EMPTY: i32 = 7;
    pub const CAS_MISMATCH: i32 = 8;
    pub const INTERNAL_FAILURE: i32 = 10;
    pub const UNIMPLEMENTED: i32 = 12;
}

/// `proxy_buffer_type_t` values.
pub mod buffer {
    pub const HTTP_REQUEST_BODY: i32 = 0;
    pub const HTTP_RESPONSE_BODY: i32 = 1;
    pub const HTTP_CALL_RESPONSE_BODY: i32 = 4;
    pub const GRPC_RECEIVE_BUFFER: i32 = 5;
    pub const VM_CONFIGURATION: i32 = 6;
    pub const PLUGIN_CONFIGURATION: i32 = 7;
}

/// `proxy_map_type_t` values.
pub mod map {
    pub const HTTP_REQUEST_HEADERS: i32 = 0;
    pub const HTTP_RESPONSE_HEADERS: i32 = 2;
    pub const GRPC_RECEIVE_INITIAL_METADATA: i32 = 4;
    pub const GRPC_RECEIVE_TRAILING_METADATA: i32 = 5;
    pub const HTTP_CALL_RESPONSE_HEADERS: i32 = 6;
    pub const HTTP_CALL_RESPONSE_TRAILERS: i32 = 7;
}

/// `proxy_stream_type_t` values.
pub mod stream {
    pub const HTTP_REQUEST: i32 = 0;
    pub const HTTP_RESPONSE: i32 = 1;
}

/// `proxy_action_t::PAUSE`.
pub const ACTION_PAUSE: i32 = 1;

/// WASI errno values.
pub mod errno {
    pub const SUCCESS: i32 = 0;
    pub const BADF: i32 = 8;
    pub const FAULT: i32 = 21;
    pub const INVAL: i32 = 28;
}

/// Serializes header pairs: `u32 count`, `count × (u32 key_len, u32 value_len)`, then each
/// `key \0 value \0` (little-endian).
pub fn serialize_map<'a>(pairs: impl Iterator<Item = (&'a [u8], &'a [u8])> + Clone) -> Vec<u8> {
    let (count, data) = pairs.clone().fold((0usize, 0usize), |(n, d), (k, v)| {
        (n + 1, d + k.len() + v.len() + 2)
    });
    let mut out = Vec::with_capacity(4 + count * 8 + data);
    out.extend_from_slice(&(count as u32).to_le_bytes());
    for (k, v) in pairs.clone() {
        out.extend_from_slice(&(k.len() as u32).to_le_bytes());
        out.extend_from_slice(&(v.len() as u32).to_le_bytes());
    }
    for (k, v) in pairs {
        out.extend_from_slice(k);
        out.push(0);
        out.extend_from_slice(v);
        out.push(0);
    }
    out
}

/// Parses a serialized map; `None` when the bytes are malformed. An empty buffer or a single
/// `0x00` is the empty map.
pub fn deserialize_map(bytes: &[u8]) -> Option<Vec<(&[u8], &[u8])>> {
    if bytes.len() <= 1 {
        return (bytes.is_empty() || bytes[0] == 0).then(Vec::new);
    }
    let word = |at: usize| -> Option<usize> {
        let b = bytes.get(at..at + 4)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    let count = word(0)?;
    let mut sizes = Vec::with_capacity(count.min(1024));
    for i in 0..count {
        sizes.push((word(4 + i * 8)?, word(8 + i * 8)?));
    }
    let mut at = 4usize.checked_add(count.checked_mul(8)?)?;
    let mut out = Vec::with_capacity(sizes.len());
    for (kl, vl) in sizes {
        let key = bytes.get(at..at.checked_add(kl)?)?;
        at += kl + 1;
        let value = bytes.get(at..at.checked_add(vl)?)?;
        at += vl + 1;
        if at > bytes.len() {
            return None;
        }
        out.push((key, value));
    }
    Some(out)
}

/// Splits a property path (segments joined by `0x00`, no trailing NUL) into its segments.
pub fn split_path(path: &[u8]) -> Vec<&str> {
    let trimmed = path.strip_suffix(&[0]).unwrap_or(path);
    trimmed
        .split(|b| *b == 0)
        .map(|s| std::str::from_utf8(s).unwrap_or(""))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_round_trip_matches_the_sdk_layout() {
        let pairs: Vec<(&[u8], &[u8])> = vec![(b"a", b"1"), (b"b", b"22")];
        let bytes = serialize_map(pairs.iter().copied());
        assert_eq!(
            bytes,
            [
                2, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, b'a', 0, b'1', 0, b'b',
                0, b'2', b'2', 0
            ]
        );
        assert_eq!(deserialize_map(&bytes).unwrap(), pairs);
        assert_eq!(deserialize_map(&[]).unwrap(), vec![]);
        assert_eq!(deserialize_map(&[0]).unwrap(), vec![]);
        assert!(deserialize_map(&bytes[..bytes.len() - 2]).is_none());
    }

    #[test]
    fn property_paths_split_on_nul() {
        assert_eq!(split_path(b"request\0path"), vec!["request", "path"]);
        assert_eq!(
            split_path(b"weir\0metadata\0token\0"),
            vec!["weir", "metadata", "token"]
        );
    }
}
