//! Just enough of the protobuf wire format to read `DetectionEvent.camera_id` and rewrite its
//! three metadata fields, working on the raw bytes: fields this plugin does not know (a newer
//! `.proto` upstream) travel through untouched, which a decode/encode round trip through
//! generated structs would silently drop.
//!
//! `vision.DetectionEvent` (examples/vision/proto/vision.proto): `camera_id = 1`,
//! `timestamp_ms = 2`, `objects = 3`, `camera_location = 4`, `camera_status = 5`,
//! `install_date = 6`.

/// `DetectionEvent.camera_id` / `DetectionRequest.camera_id`.
const CAMERA_ID: u32 = 1;
/// `DetectionEvent.camera_location`.
const LOCATION: u32 = 4;
/// `DetectionEvent.camera_status`.
const STATUS: u32 = 5;
/// `DetectionEvent.install_date`.
const INSTALL_DATE: u32 = 6;

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;
const FIXED32: u8 = 5;

/// One top-level field: its number and the byte range it covers (key included).
struct Field<'a> {
    number: u32,
    /// The payload of a length-delimited field.
    data: Option<&'a [u8]>,
    start: usize,
    end: usize,
}

fn varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *buf.get(*pos)?;
        *pos += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// The top-level fields of a message, or `None` when it is not well-formed protobuf (groups,
/// which proto3 never emits, count as malformed: the message then passes untouched).
fn fields(buf: &[u8]) -> Option<Vec<Field<'_>>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let start = pos;
        let key = varint(buf, &mut pos)?;
        let number = u32::try_from(key >> 3).ok().filter(|n| *n != 0)?;
        let mut data = None;
        match (key & 7) as u8 {
            VARINT => {
                varint(buf, &mut pos)?;
            }
            FIXED64 => pos = pos.checked_add(8)?,
            FIXED32 => pos = pos.checked_add(4)?,
            LEN => {
                let len = usize::try_from(varint(buf, &mut pos)?).ok()?;
                let end = pos.checked_add(len)?;
                data = Some(buf.get(pos..end)?);
                pos = end;
            }
            _ => return None,
        }
        if pos > buf.len() {
            return None;
        }
        out.push(Field {
            number,
            data,
            start,
            end: pos,
        });
    }
    Some(out)
}

/// The message's `camera_id` (field 1, a string; the last occurrence wins, as in protobuf).
/// `None` when the message is malformed, has no camera id, or the id is not UTF-8.
pub fn camera_id(message: &[u8]) -> Option<&str> {
    let field = fields(message)?
        .into_iter()
        .rfind(|f| f.number == CAMERA_ID)?;
    let id = std::str::from_utf8(field.data?).ok()?;
    (!id.is_empty()).then_some(id)
}

/// What to write into an event; `None` leaves the field as the upstream sent it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Metadata<'a> {
    /// `camera_location`.
    pub location: Option<&'a str>,
    /// `camera_status`.
    pub status: Option<&'a str>,
    /// `install_date`.
    pub install_date: Option<&'a str>,
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn put_string(out: &mut Vec<u8>, number: u32, value: &str) {
    // proto3 omits empty strings; the field then reads as "" all the same.
    if value.is_empty() {
        return;
    }
    put_varint(out, (u64::from(number) << 3) | u64::from(LEN));
    put_varint(out, value.len() as u64);
    out.extend_from_slice(value.as_bytes());
}

/// The event with the given metadata fields replaced (every other byte kept, in order), or
/// `None` when the message is malformed or nothing would change.
pub fn enrich(message: &[u8], meta: &Metadata<'_>) -> Option<Vec<u8>> {
    let replaced = [
        (LOCATION, meta.location),
        (STATUS, meta.status),
        (INSTALL_DATE, meta.install_date),
    ];
    if replaced.iter().all(|(_, v)| v.is_none()) {
        return None;
    }
    let fields = fields(message)?;
    let extra: usize = replaced
        .iter()
        .filter_map(|(_, v)| v.map(|s| s.len() + 6))
        .sum();
    let mut out = Vec::with_capacity(message.len() + extra);
    for field in &fields {
        let dropped = replaced
            .iter()
            .any(|(number, value)| *number == field.number && value.is_some());
        if !dropped {
            out.extend_from_slice(&message[field.start..field.end]);
        }
    }
    for (number, value) in replaced {
        if let Some(value) = value {
            put_string(&mut out, number, value);
        }
    }
    (out != message).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn string_field(number: u32, value: &str) -> Vec<u8> {
        let mut out = Vec::new();
        put_varint(&mut out, (u64::from(number) << 3) | 2);
        put_varint(&mut out, value.len() as u64);
        out.extend_from_slice(value.as_bytes());
        out
    }

    /// camera_id, timestamp_ms, one object (label only), and an unknown fixed32 field 9.
    fn event(camera: &str) -> Vec<u8> {
        let mut out = string_field(1, camera);
        out.extend([0x10, 0xfb, 0xa2, 0x01]); // timestamp_ms = 20859
        let object = string_field(1, "person");
        out.push(0x1a);
        out.push(object.len() as u8);
        out.extend(object);
        out.extend([0x4d, 1, 2, 3, 4]); // field 9, fixed32
        out
    }

    #[test]
    fn reads_the_camera_id() {
        assert_eq!(camera_id(&event("cam-1")), Some("cam-1"));
        assert_eq!(camera_id(&event("")), None);
        assert_eq!(camera_id(&[]), None);
        let mut twice = event("cam-1");
        twice.extend(string_field(1, "cam-2"));
        assert_eq!(camera_id(&twice), Some("cam-2"));
    }

    #[test]
    fn malformed_messages_are_refused() {
        let good = event("cam-1");
        for cut in 1..good.len() {
            let truncated = &good[..cut];
            if fields(truncated).is_some() {
                // A cut at a field boundary is a valid shorter message.
                continue;
            }
            assert_eq!(camera_id(truncated), None);
            assert_eq!(enrich(truncated, &meta()), None);
        }
        assert_eq!(camera_id(&[0x0b, 0x0c]), None, "groups are not proto3");
        assert_eq!(camera_id(&[0x02, 0x00]), None, "field number 0");
        assert_eq!(camera_id(&[0x0a, 0x02, 0xff, 0xfe]), None, "not UTF-8");
    }

    fn meta() -> Metadata<'static> {
        Metadata {
            location: Some("North Gate"),
            status: Some("active"),
            install_date: Some("2023-04-01"),
        }
    }

    #[test]
    fn enrich_appends_fields_and_keeps_unknown_ones() {
        let original = event("cam-1");
        let got = enrich(&original, &meta()).unwrap();
        let mut want = original.clone();
        want.extend(string_field(4, "North Gate"));
        want.extend(string_field(5, "active"));
        want.extend(string_field(6, "2023-04-01"));
        assert_eq!(got, want);
    }

    #[test]
    fn enrich_replaces_what_the_upstream_set_and_leaves_unset_fields() {
        let mut original = event("cam-1");
        original.extend(string_field(4, "old place"));
        original.extend(string_field(5, "upstream status"));
        let partial = Metadata {
            location: Some("New place"),
            status: None,
            install_date: None,
        };
        let got = enrich(&original, &partial).unwrap();
        let mut want = event("cam-1");
        want.extend(string_field(5, "upstream status"));
        want.extend(string_field(4, "New place"));
        assert_eq!(got, want);
    }

    #[test]
    fn nothing_to_write_is_no_replacement() {
        assert_eq!(enrich(&event("cam-1"), &Metadata::default()), None);
        let mut done = event("cam-1");
        done.extend(string_field(4, "North Gate"));
        done.extend(string_field(5, "active"));
        done.extend(string_field(6, "2023-04-01"));
        assert_eq!(enrich(&done, &meta()), None, "already enriched");
    }

    #[test]
    fn varints_round_trip() {
        for value in [0, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            let mut buf = Vec::new();
            put_varint(&mut buf, value);
            let mut pos = 0;
            assert_eq!(varint(&buf, &mut pos), Some(value));
            assert_eq!(pos, buf.len());
        }
    }
}
