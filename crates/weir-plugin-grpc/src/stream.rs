//! Stream hooks over gRPC: translating a [`GrpcMessage`] to Weir's `coprocess.GrpcMessage`
//! (the `DispatchGrpcMessage` extension RPC) and the reply to a [`MessageVerdict`].

use std::collections::HashMap;

use http::HeaderMap;
use weir_core::plugin::{GrpcMessage, MessageDirection, MessageVerdict, PluginError};

use crate::pb;
use crate::session;

/// The highest gRPC status code (UNAUTHENTICATED).
const MAX_STATUS_CODE: u32 = 16;

/// Builds the request for one message.
pub(crate) fn build(msg: &GrpcMessage) -> pb::GrpcMessage {
    let direction = match msg.direction {
        MessageDirection::FromUpstream => pb::MessageDirection::FromUpstream,
        MessageDirection::ToUpstream => pb::MessageDirection::ToUpstream,
    };
    pb::GrpcMessage {
        hook_name: msg.hook.to_string(),
        direction: direction.into(),
        method: msg.method.to_string(),
        // `Bytes` both sides: the payload is shared, not copied.
        payload: msg.payload.clone(),
        index: msg.index,
        headers: joined_values(&msg.headers),
        session: msg.session.as_deref().map(session::to_proto),
        config_data: msg.spec.config_data.clone().unwrap_or_default(),
        api_id: msg.spec.api_id.clone(),
        org_id: msg.spec.org_id.clone(),
    }
}

/// Applies the reply: a replacement payload goes into `msg`, the action becomes the verdict.
pub(crate) fn apply(
    msg: &mut GrpcMessage,
    reply: pb::GrpcMessageReply,
) -> Result<MessageVerdict, String> {
    let action = pb::MessageAction::try_from(reply.action).map_err(|_| {
        format!(
            "unknown action {} (expected PASS, DROP or END)",
            reply.action
        )
    })?;
    Ok(match action {
        pb::MessageAction::Pass => {
            if let Some(payload) = reply.payload {
                msg.payload = payload;
            }
            MessageVerdict::Pass
        }
        pb::MessageAction::Drop => MessageVerdict::Drop,
        pb::MessageAction::End => {
            let code = reply
                .status_code
                .ok_or("END without a status_code (a gRPC status code, 0..16)")?;
            if code > MAX_STATUS_CODE {
                return Err(format!(
                    "END with status_code {code}, not a gRPC status code (0..16)"
                ));
            }
            MessageVerdict::End {
                // Checked above: 0..=16 fits.
                code: code as u8,
                message: reply.status_message,
            }
        }
    })
}

/// Maps a failed `DispatchGrpcMessage` call: UNIMPLEMENTED means a server without Weir's
/// extension (a Tyk plugin server); everything else as for `Dispatch`.
pub(crate) fn status_error(hook: &str, status: &tonic::Status) -> PluginError {
    if status.code() == tonic::Code::Unimplemented {
        return PluginError::Unavailable {
            hook: hook.to_string(),
            reason: format!(
                "the plugin server does not implement Weir's stream hooks \
                 (coprocess.Dispatcher/DispatchGrpcMessage answered UNIMPLEMENTED: {})",
                status.message()
            ),
        };
    }
    crate::status_error(hook, status)
}

/// Request headers as a string map: HTTP/2's lowercase names, repeated values joined with
/// ", " (HTTP's list syntax), values that are not text decoded lossily.
fn joined_values(headers: &HeaderMap) -> HashMap<String, String> {
    let mut map: HashMap<String, String> = HashMap::with_capacity(headers.keys_len());
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes());
        map.entry(name.as_str().to_string())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(&value);
            })
            .or_insert_with(|| value.into_owned());
    }
    map
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::Bytes;
    use http::HeaderValue;
    use weir_core::plugin::{ApiSpecInfo, Session};

    use super::*;

    fn message() -> GrpcMessage {
        let mut headers = HeaderMap::new();
        headers.append("x-tag", HeaderValue::from_static("a"));
        headers.append("x-tag", HeaderValue::from_static("b"));
        headers.insert("x-raw", HeaderValue::from_bytes(b"\xffz").unwrap());
        GrpcMessage {
            hook: "H".into(),
            direction: MessageDirection::ToUpstream,
            method: "/p.S/M".into(),
            payload: Bytes::from_static(b"\x0a\x01x"),
            index: 3,
            headers: Arc::new(headers),
            session: Some(Arc::new(Session {
                rate: 5.0,
                ..Default::default()
            })),
            spec: Arc::new(ApiSpecInfo {
                org_id: "o".into(),
                api_id: "a".into(),
                config_data: Some("{}".into()),
                bundle_hash: None,
            }),
        }
    }

    #[test]
    fn builds_every_field() {
        let m = message();
        let p = build(&m);
        assert_eq!(p.hook_name, "H");
        assert_eq!(p.direction(), pb::MessageDirection::ToUpstream);
        assert_eq!(p.method, "/p.S/M");
        assert_eq!(&p.payload[..], b"\x0a\x01x");
        assert_eq!(p.index, 3);
        assert_eq!(p.headers["x-tag"], "a, b");
        assert_eq!(p.headers["x-raw"], "\u{fffd}z");
        assert_eq!(p.session.unwrap().rate, 5.0);
        assert_eq!((&*p.config_data, &*p.api_id, &*p.org_id), ("{}", "a", "o"));
    }

    #[test]
    fn verdicts() {
        let mut m = message();
        let pass = pb::GrpcMessageReply::default();
        assert_eq!(apply(&mut m, pass), Ok(MessageVerdict::Pass));
        assert_eq!(&m.payload[..], b"\x0a\x01x", "no payload: unchanged");

        let replace = pb::GrpcMessageReply {
            payload: Some(Bytes::new()),
            ..Default::default()
        };
        assert_eq!(apply(&mut m, replace), Ok(MessageVerdict::Pass));
        assert!(
            m.payload.is_empty(),
            "an empty replacement is a message too"
        );

        let drop = pb::GrpcMessageReply {
            action: pb::MessageAction::Drop.into(),
            ..Default::default()
        };
        assert_eq!(apply(&mut m, drop), Ok(MessageVerdict::Drop));

        let end = |code| pb::GrpcMessageReply {
            action: pb::MessageAction::End.into(),
            status_code: code,
            status_message: "no".into(),
            ..Default::default()
        };
        assert_eq!(
            apply(&mut m, end(Some(16))),
            Ok(MessageVerdict::End {
                code: 16,
                message: "no".into()
            })
        );
        assert!(
            apply(&mut m, end(None))
                .unwrap_err()
                .contains("status_code")
        );
        assert!(apply(&mut m, end(Some(17))).unwrap_err().contains("17"));
        let odd = pb::GrpcMessageReply {
            action: 9,
            ..Default::default()
        };
        assert!(apply(&mut m, odd).unwrap_err().contains("unknown action 9"));
    }

    #[test]
    fn unimplemented_names_the_extension() {
        let err = status_error("H", &tonic::Status::unimplemented("unknown method"));
        let PluginError::Unavailable { reason, .. } = err else {
            panic!("{err:?}");
        };
        assert!(
            reason.contains("does not implement Weir's stream hooks"),
            "{reason}"
        );
    }
}
