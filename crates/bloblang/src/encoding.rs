//! Byte encodings shared by JSON output (`[]byte` as base64) and `encode`/`decode`.

/// The standard base64 alphabet.
pub const B64_STD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
/// The URL-safe base64 alphabet.
pub const B64_URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Encodes base64 with `alphabet`, padded with `=` when `pad` is set.
pub fn b64_encode(data: &[u8], alphabet: &[u8; 64], pad: bool) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(alphabet[((n >> (18 - 6 * k)) & 63) as usize] as char);
            } else if pad {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes base64 with `alphabet`; trailing padding is optional.
pub fn b64_decode(s: &str, alphabet: &[u8; 64]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for (i, c) in s.trim_end_matches('=').bytes().enumerate() {
        let v = alphabet
            .iter()
            .position(|&a| a == c)
            .ok_or_else(|| format!("illegal base64 data at input byte {i}"))?;
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Ok(out)
}

/// The Z85 (ZeroMQ) alphabet.
const Z85: &[u8; 85] =
    b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

/// Base-85 digits of `v`, most significant first.
fn base85_digits(mut v: u32) -> [u8; 5] {
    let mut d = [0u8; 5];
    for slot in d.iter_mut().rev() {
        *slot = (v % 85) as u8;
        v /= 85;
    }
    d
}

/// Go's `encoding/ascii85` (no `<~ ~>` frame; `z` for an all-zero group).
pub fn ascii85_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(4) * 5);
    for chunk in data.chunks(4) {
        let mut group = [0u8; 4];
        group[..chunk.len()].copy_from_slice(chunk);
        let v = u32::from_be_bytes(group);
        if v == 0 && chunk.len() == 4 {
            out.push('z');
            continue;
        }
        let digits = base85_digits(v);
        out.extend(digits[..=chunk.len()].iter().map(|d| (d + b'!') as char));
    }
    out
}

/// Decodes Go-style ascii85; whitespace is ignored.
pub fn ascii85_decode(s: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(s.len() * 4 / 5);
    let mut group: Vec<u32> = Vec::with_capacity(5);
    for (i, c) in s.bytes().enumerate() {
        match c {
            b' ' | b'\n' | b'\r' | b'\t' => continue,
            b'z' if group.is_empty() => out.extend_from_slice(&[0; 4]),
            b'!'..=b'u' => group.push(u32::from(c - b'!')),
            _ => return Err(format!("illegal ascii85 data at input byte {i}")),
        }
        if group.len() == 5 {
            out.extend_from_slice(&fold85(&group)?.to_be_bytes());
            group.clear();
        }
    }
    if group.len() == 1 {
        return Err("illegal ascii85 data: a lone final character".into());
    }
    if !group.is_empty() {
        let n = group.len();
        group.resize(5, 84);
        out.extend_from_slice(&fold85(&group)?.to_be_bytes()[..n - 1]);
    }
    Ok(out)
}

fn fold85(digits: &[u32]) -> Result<u32, String> {
    let v = digits.iter().fold(0u64, |a, &d| a * 85 + u64::from(d));
    u32::try_from(v).map_err(|_| "illegal base85 group".to_string())
}

/// Z85: every 4 bytes become 5 characters; the input length must be a multiple of 4.
pub fn z85_encode(data: &[u8]) -> Result<String, String> {
    if !data.len().is_multiple_of(4) {
        return Err("z85 input length must be a multiple of 4".into());
    }
    Ok(data
        .chunks(4)
        .flat_map(|c| base85_digits(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
        .map(|d| Z85[d as usize] as char)
        .collect())
}

/// Decodes Z85; the input length must be a multiple of 5.
pub fn z85_decode(s: &str) -> Result<Vec<u8>, String> {
    if !s.len().is_multiple_of(5) {
        return Err("z85 input length must be a multiple of 5".into());
    }
    let mut out = Vec::with_capacity(s.len() / 5 * 4);
    for chunk in s.as_bytes().chunks(5) {
        let digits = chunk
            .iter()
            .map(|c| Z85.iter().position(|a| a == c).map(|p| p as u32))
            .collect::<Option<Vec<u32>>>()
            .ok_or("illegal z85 data")?;
        out.extend_from_slice(&fold85(&digits)?.to_be_bytes());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips() {
        for data in [&b""[..], b"f", b"fo", b"foo", b"hello world"] {
            let enc = b64_encode(data, B64_STD, true);
            assert_eq!(b64_decode(&enc, B64_STD).unwrap(), data);
        }
        assert_eq!(b64_encode(b"hello", B64_URL, false), "aGVsbG8");
        assert!(b64_decode("a*", B64_STD).is_err());
    }

    #[test]
    fn base85_variants_round_trip() {
        assert_eq!(ascii85_encode(b"hello world!"), "BOu!rD]j7BEbo80");
        assert_eq!(ascii85_encode(b"hello world"), "BOu!rD]j7BEbo7");
        assert_eq!(ascii85_encode(&[0, 0, 0, 0, 1]), "z!<");
        for data in [&b"hello world"[..], b"", b"\0\0\0\0x", b"abc"] {
            assert_eq!(ascii85_decode(&ascii85_encode(data)).unwrap(), data);
        }
        assert_eq!(z85_encode(b"hello world!").unwrap(), "xK#0@zY<mxA+]nf");
        assert_eq!(z85_decode("xK#0@zY<mxA+]nf").unwrap(), b"hello world!");
        assert!(z85_encode(b"abc").is_err());
    }
}
