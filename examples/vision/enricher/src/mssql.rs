//! SQL Server through tiberius: the seed's `sqlserver://` DSN (go-mssqldb's URL form) and a
//! small pool of connections. Nothing on this machine tests it against a server (there is no
//! SQL Server here); the DSN parsing is unit-tested.

use std::sync::atomic::{AtomicUsize, Ordering};

use tiberius::{AuthMethod, Client, Config, EncryptionLevel};
use tokio::net::TcpStream;
use tokio::sync::Mutex;
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};

use crate::cache::CameraInfo;

type Connection = Client<Compat<TcpStream>>;

/// User names and passwords come percent-encoded in the URL (`+` stays a plus there).
fn percent_decoded(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// Reads `sqlserver://user:password@host:port?database=DB&encrypt=...&TrustServerCertificate=...`.
/// `encrypt`: `disable` (no TLS), `false` (the default, as in go-mssqldb: TLS for the login
/// only), `true` (TLS throughout). Options this plugin has no use for are ignored.
pub fn config(dsn: &str) -> Result<Config, String> {
    let url = url::Url::parse(dsn).map_err(|e| format!("not a sqlserver:// URL: {e}"))?;
    let mut config = Config::new();
    config.host(url.host_str().unwrap_or("localhost"));
    config.port(url.port().unwrap_or(1433));
    let instance = url.path().trim_matches('/');
    if !instance.is_empty() {
        return Err(format!(
            "named instances (`/{instance}`) need the SQL Browser service, which this plugin \
             does not query: give the instance's port instead"
        ));
    }
    if !url.username().is_empty() {
        let user = percent_decoded(url.username());
        let password = percent_decoded(url.password().unwrap_or(""));
        config.authentication(AuthMethod::sql_server(user, password));
    }
    config.encryption(EncryptionLevel::Off);
    config.application_name("weir-vision-enricher");
    for (key, value) in url.query_pairs() {
        match key.to_ascii_lowercase().as_str() {
            "database" => config.database(&*value),
            "app name" => config.application_name(&*value),
            "encrypt" => match value.to_ascii_lowercase().as_str() {
                "disable" => config.encryption(EncryptionLevel::NotSupported),
                "false" | "optional" | "no" => config.encryption(EncryptionLevel::Off),
                "true" | "mandatory" | "yes" => config.encryption(EncryptionLevel::Required),
                other => return Err(format!("encrypt={other}: use disable, false or true")),
            },
            "trustservercertificate" => match value.to_ascii_lowercase().as_str() {
                "true" | "yes" => config.trust_cert(),
                "false" | "no" => {}
                other => return Err(format!("TrustServerCertificate={other}: use true or false")),
            },
            _ => {}
        }
    }
    Ok(config)
}

/// A fixed set of connection slots, each opened on first use and reopened after an error.
pub struct Pool {
    config: Config,
    slots: Vec<Mutex<Option<Connection>>>,
    next: AtomicUsize,
}

impl Pool {
    /// A pool of `size` connections to `dsn`; nothing is opened yet.
    pub fn new(dsn: &str, size: u32) -> Result<Pool, String> {
        Ok(Pool {
            config: config(dsn)?,
            slots: (0..size.max(1)).map(|_| Mutex::new(None)).collect(),
            next: AtomicUsize::new(0),
        })
    }

    async fn connect(&self) -> Result<Connection, String> {
        let tcp = TcpStream::connect(self.config.get_addr())
            .await
            .map_err(|e| format!("cannot connect to SQL Server: {e}"))?;
        let _ = tcp.set_nodelay(true);
        Client::connect(self.config.clone(), tcp.compat_write())
            .await
            .map_err(|e| format!("SQL Server login failed: {e}"))
    }

    /// Runs the lookup `sql` (one `@P1` parameter) for `id`.
    pub async fn fetch(&self, sql: &str, id: &str) -> Result<Option<CameraInfo>, String> {
        let slot = &self.slots[self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len()];
        let mut slot = slot.lock().await;
        // Taken out while in use: if the caller's timeout drops this future mid-query, the
        // half-read connection is dropped with it instead of going back to the slot.
        let mut conn = match slot.take() {
            Some(conn) => conn,
            None => self.connect().await?,
        };
        let row = query(&mut conn, sql, id).await?;
        *slot = Some(conn);
        Ok(row)
    }
}

async fn query(conn: &mut Connection, sql: &str, id: &str) -> Result<Option<CameraInfo>, String> {
    let failed = |e: tiberius::error::Error| format!("SQL Server query failed: {e}");
    let row = conn
        .query(sql, &[&id])
        .await
        .map_err(failed)?
        .into_row()
        .await
        .map_err(failed)?;
    let Some(row) = row else {
        return Ok(None);
    };
    let text = |i: usize| -> Result<Option<String>, String> {
        row.try_get::<&str, usize>(i)
            .map(|v| v.map(str::to_owned))
            .map_err(failed)
    };
    Ok(Some(CameraInfo {
        location: text(0)?,
        status: text(1)?,
        install_date: text(2)?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seeds_dsn() {
        let c = config("sqlserver://user:p%40ss@sql-server-host:1433?database=DeviceDB").unwrap();
        assert_eq!(c.get_addr(), "sql-server-host:1433");
        let debug = format!("{c:?}");
        assert!(debug.contains("DeviceDB"), "{debug}");
        assert!(debug.contains("\"user\""), "{debug}");
        assert_eq!(percent_decoded("p%40ss+x"), "p@ss+x");
    }

    #[test]
    fn defaults_and_options() {
        let c = config("sqlserver://db.local").unwrap();
        assert_eq!(c.get_addr(), "db.local:1433");
        let c = config("sqlserver://h:1500?encrypt=disable&TrustServerCertificate=true").unwrap();
        assert_eq!(c.get_addr(), "h:1500");
        let debug = format!("{c:?}");
        assert!(debug.contains("NotSupported"), "{debug}");
        assert!(config("sqlserver://h?encrypt=true&connection+timeout=30").is_ok());
    }

    #[test]
    fn bad_dsns() {
        assert!(
            config("sqlserver://h?encrypt=maybe")
                .unwrap_err()
                .contains("encrypt")
        );
        assert!(
            config("sqlserver://h/SQLEXPRESS")
                .unwrap_err()
                .contains("SQLEXPRESS")
        );
        assert!(config("sqlserver://h?TrustServerCertificate=x").is_err());
    }
}
