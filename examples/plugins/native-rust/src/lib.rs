//! An example Weir native plugin. The hook `name` in the API definition selects a behaviour:
//!
//! | kind          | name         | what it does                                                  |
//! |---------------|--------------|---------------------------------------------------------------|
//! | pre, post     | `AddHeader`  | sets `config_data.header_name: header_value` on the request   |
//! | pre           | `Rewrite`    | changes method, url, query parameters, headers and body       |
//! | pre           | `Reply`      | answers instead of the upstream (`X-Reply-Code`, default 403; |
//! |               |              | `X-Override-Error: true` sends the body raw; `X-Reply-Cancel: |
//! |               |              | yes` takes the answer back)                                   |
//! | pre           | `EchoConfig` | copies the API's config_data into `X-Config`                  |
//! | pre           | `MaybePanic` | panics when `X-Panic: yes`                                    |
//! | pre           | `Fail`       | fails with an error                                           |
//! | pre           | `Slow`       | sleeps `X-Sleep-Ms` milliseconds (default 2000), then passes  |
//! | auth_check    | `BearerAuth` | accepts `Bearer good`; `Bearer limited` (1 request a minute), |
//! |               |              | `Bearer elsewhere` (rights to another API only),              |
//! |               |              | `Bearer broken` (access rights that are not an object)        |
//! | post_key_auth | `Whoami`     | copies the session's user and the token into headers          |
//! | response      | `Rewrite`    | adds a header and wraps the upstream's body in JSON           |
//! | stream        | `Describe`   | replaces each gRPC message with a line describing what the    |
//! |               |              | hook sees (direction, method, index, size, `X-Tag`, session   |
//! |               |              | user, config); `X-Drop: yes` drops it, `X-End: <code>` ends   |
//! |               |              | the call with that status                                     |
//! | stream        | `MaybePanic` | panics when `X-Panic: yes`, else passes the message           |

use weir_plugin_sdk::{
    export_plugin, serde_json, Direction, GrpcMessage, Level, Plugin, Request, Verdict,
};

struct Example {
    header_name: String,
    header_value: String,
}

impl Plugin for Example {
    const NAME: &'static str = "native-rust-example";

    fn init(config: &serde_json::Value) -> Result<Self, String> {
        let field = |key: &str| {
            config[key]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| format!("config_data.{key} must be a string"))
        };
        Ok(Example {
            header_name: field("header_name")?,
            header_value: field("header_value")?,
        })
    }

    fn pre(&self, name: &str, req: &mut Request) -> Result<(), String> {
        match name {
            "AddHeader" => self.add_header(req),
            "Rewrite" => rewrite(req),
            "Slow" => {
                let ms = match req.header("x-sleep-ms")? {
                    Some(v) => v.parse().map_err(|_| format!("bad X-Sleep-Ms {v}"))?,
                    None => 2000,
                };
                std::thread::sleep(std::time::Duration::from_millis(ms));
                Ok(())
            }
            "Reply" => {
                let code = match req.header("x-reply-code")? {
                    Some(c) => c.parse().map_err(|_| format!("bad X-Reply-Code {c}"))?,
                    None => 403,
                };
                let raw = req.header("x-override-error")? == Some("true");
                req.add_override_header("x-replied", "native-rust")?;
                req.set_return_override(code, "reply from native-rust", raw)?;
                if req.header("x-reply-cancel")? == Some("yes") {
                    req.clear_return_override()?;
                }
                Ok(())
            }
            "EchoConfig" => {
                let config = req.config_data()?.unwrap_or("none").to_owned();
                Ok(req.set_header("x-config", &config)?)
            }
            "MaybePanic" => {
                if req.header("x-panic")? == Some("yes") {
                    panic!("boom on demand");
                }
                Ok(req.set_header("x-survived", "yes")?)
            }
            "Fail" => Err("failed on purpose".into()),
            _ => Err(format!("no pre hook named {name}")),
        }
    }

    fn auth_check(&self, name: &str, req: &mut Request) -> Result<(), String> {
        if name != "BearerAuth" {
            return Err(format!("no auth_check hook named {name}"));
        }
        // The gateway's key checks run on the session a hook makes: its limits and rights hold.
        let (token, session) = match req.header("authorization")? {
            Some("Bearer good") => ("good", serde_json::json!({
                "rate": 100.0, "per": 1.0, "alias": "good-user",
                "meta_data": { "user": "good" }
            })),
            Some("Bearer limited") => ("limited", serde_json::json!({
                "rate": 1.0, "per": 60.0, "meta_data": { "user": "limited" }
            })),
            Some("Bearer broken") => ("broken", serde_json::json!({
                "access_rights": "everything"
            })),
            Some("Bearer elsewhere") => ("elsewhere", serde_json::json!({
                "access_rights": { "other-api": { "api_id": "other-api", "versions": ["Default"] } },
                "meta_data": { "user": "elsewhere" }
            })),
            _ => {
                req.log(Level::Info, "rejected a bearer token");
                return Ok(req.set_return_override(401, "invalid bearer token", false)?);
            }
        };
        req.set_session(&session)?;
        Ok(req.set_metadata("token", token)?)
    }

    fn post_key_auth(&self, name: &str, req: &mut Request) -> Result<(), String> {
        if name != "Whoami" {
            return Err(format!("no post_key_auth hook named {name}"));
        }
        let session = req.session()?.ok_or("no session")?;
        let user = session["meta_data"]["user"].as_str().unwrap_or("unknown");
        req.set_header("x-user", user)?;
        let token = req.metadata("token")?.unwrap_or("none").to_owned();
        Ok(req.set_header("x-token", &token)?)
    }

    fn post(&self, name: &str, req: &mut Request) -> Result<(), String> {
        match name {
            "AddHeader" => self.add_header(req),
            _ => Err(format!("no post hook named {name}")),
        }
    }

    fn response(&self, name: &str, req: &mut Request) -> Result<(), String> {
        if name != "Rewrite" {
            return Err(format!("no response hook named {name}"));
        }
        let status = req.response_status()?;
        let upstream = String::from_utf8_lossy(req.response_body()?).into_owned();
        let body = serde_json::json!({ "status": status, "upstream": upstream });
        req.set_response_body(body.to_string().as_bytes())?;
        req.set_response_header("content-type", "application/json")?;
        req.set_response_header("x-response-plugin", "native-rust")?;
        req.delete_response_header("x-upstream-secret")?;
        Ok(req.set_response_status(202)?)
    }

    fn on_grpc_message(&self, name: &str, msg: &mut GrpcMessage) -> Result<Verdict, String> {
        match name {
            "Describe" => describe(msg),
            "MaybePanic" => {
                if msg.header("x-panic")? == Some("yes") {
                    panic!("stream boom on demand");
                }
                Ok(Verdict::Pass)
            }
            _ => Err(format!("no stream hook named {name}")),
        }
    }
}

fn describe(msg: &mut GrpcMessage) -> Result<Verdict, String> {
    if msg.header("x-drop")? == Some("yes") {
        return Ok(Verdict::Drop);
    }
    if let Some(code) = msg.header("x-end")? {
        let code = code.parse().map_err(|_| format!("bad X-End {code}"))?;
        return Ok(Verdict::end(code, "ended by native-rust"));
    }
    let direction = match msg.direction() {
        Direction::ToUpstream => "to_upstream",
        Direction::FromUpstream => "from_upstream",
    };
    let tag = msg.header("x-tag")?.unwrap_or("-").to_owned();
    let user = match msg.session()? {
        Some(s) => s["meta_data"]["user"].as_str().unwrap_or("?").to_owned(),
        None => "-".to_owned(),
    };
    let config = if msg.config_data()?.is_some() {
        "yes"
    } else {
        "no"
    };
    let line = format!(
        "{direction} {} #{} {}B tag={tag} user={user} config={config}",
        msg.method(),
        msg.index(),
        msg.payload().len(),
    );
    Ok(Verdict::Replace(line.into_bytes()))
}

impl Example {
    fn add_header(&self, req: &mut Request) -> Result<(), String> {
        Ok(req.set_header(&self.header_name, &self.header_value)?)
    }
}

fn rewrite(req: &mut Request) -> Result<(), String> {
    let q = req.param("q")?.unwrap_or("none").to_owned();
    // Each host value lives until the next host call: copy before asking for another.
    let scheme = req.scheme()?.to_owned();
    let seen = format!("{scheme} {}", req.request_uri()?);
    let body = format!("{}+plugin", String::from_utf8_lossy(req.body()?));
    let method = req.method()?.to_owned();
    req.set_header("x-q", &q)?;
    req.set_header("x-seen", &seen)?;
    req.set_header("x-old-method", &method)?;
    req.delete_header("x-remove")?;
    req.set_method("POST")?;
    let url = format!(
        "/rewritten{}",
        req.url()?.split_once('?').map_or("", |_| "?keep=1&drop=2")
    );
    req.set_url(&url)?;
    req.set_param("added", "a b")?;
    req.delete_param("drop")?;
    Ok(req.set_body(body.as_bytes())?)
}

export_plugin!(Example);
