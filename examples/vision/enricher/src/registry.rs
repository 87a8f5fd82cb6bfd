//! The camera registry: one pool per plugin instance, opened at init without connecting (the
//! gateway must load the API even while the database is down; lookups then fail and are
//! retried), and the one query this plugin runs.
//!
//! Every column is cast to text in SQL, so `install_date` may be a `DATE` (or a string) and the
//! enrichment reads the same on every database.

use std::str::FromStr;
use std::time::Duration;

use sqlx::mysql::{MySqlConnectOptions, MySqlPool};
use sqlx::postgres::{PgConnectOptions, PgPool};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};
use sqlx::{AssertSqlSafe, query_as};

use crate::cache::CameraInfo;
use crate::config::{Backend, Config, redact};
use crate::mssql;

type Row = (Option<String>, Option<String>, Option<String>);

/// A pool for one of the supported databases.
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
    MySql(MySqlPool),
    // Boxed: the slots make it much larger than a sqlx pool handle.
    SqlServer(Box<mssql::Pool>),
}

/// The registry and its lookup statement.
pub struct Registry {
    pool: Pool,
    sql: String,
}

/// The lookup for a backend; `table` is a checked identifier (see `Config`).
fn lookup_sql(backend: Backend, table: &str) -> String {
    match backend {
        Backend::Postgres => format!(
            "SELECT CAST(location AS TEXT), CAST(status AS TEXT), CAST(install_date AS TEXT) \
             FROM {table} WHERE camera_id = $1 LIMIT 1"
        ),
        Backend::MySql => format!(
            "SELECT CAST(location AS CHAR), CAST(status AS CHAR), CAST(install_date AS CHAR) \
             FROM {table} WHERE camera_id = ? LIMIT 1"
        ),
        Backend::Sqlite => format!(
            "SELECT CAST(location AS TEXT), CAST(status AS TEXT), CAST(install_date AS TEXT) \
             FROM {table} WHERE camera_id = ?1 LIMIT 1"
        ),
        // Style 23 writes a date as yyyy-mm-dd, as the other databases do.
        Backend::SqlServer => format!(
            "SELECT TOP (1) CAST(location AS NVARCHAR(4000)), CAST(status AS NVARCHAR(4000)), \
             CONVERT(NVARCHAR(100), install_date, 23) FROM {table} WHERE camera_id = @P1"
        ),
    }
}

impl Registry {
    /// Builds the pool for `config.dsn`. Must run inside the plugin's tokio runtime (sqlx's
    /// pools start their maintenance tasks there). Opens no connection; fails only on a DSN
    /// that cannot work (naming the config key it came from).
    pub fn open(config: &Config) -> Result<Registry, String> {
        let key = config.dsn_key;
        let bad = |e: &dyn std::fmt::Display| {
            format!("config key `{key}`: bad DSN `{}`: {e}", redact(&config.dsn))
        };
        let size = config.pool_size;
        // A lookup waits no longer for a connection than it may take in all.
        let wait = config.query_timeout;
        let pool = match config.backend {
            Backend::Sqlite => {
                let options = SqliteConnectOptions::from_str(&config.dsn)
                    .map_err(|e| bad(&e))?
                    .read_only(true);
                let file = options.get_filename();
                if !file.as_os_str().is_empty() && !file.exists() {
                    return Err(bad(&format!(
                        "no such file `{}` (relative paths start from the gateway's working \
                         directory)",
                        file.display()
                    )));
                }
                Pool::Sqlite(pool_options(size, wait).connect_lazy_with(options))
            }
            Backend::Postgres => {
                let options = PgConnectOptions::from_str(&config.dsn).map_err(|e| bad(&e))?;
                Pool::Postgres(pool_options(size, wait).connect_lazy_with(options))
            }
            Backend::MySql => {
                // MariaDB speaks MySQL's protocol; sqlx only knows the `mysql` scheme.
                let dsn = match config.dsn.split_once("://") {
                    Some((scheme, rest)) if scheme.eq_ignore_ascii_case("mariadb") => {
                        format!("mysql://{rest}")
                    }
                    _ => config.dsn.clone(),
                };
                let options = MySqlConnectOptions::from_str(&dsn).map_err(|e| bad(&e))?;
                Pool::MySql(pool_options(size, wait).connect_lazy_with(options))
            }
            Backend::SqlServer => Pool::SqlServer(Box::new(
                mssql::Pool::new(&config.dsn, size).map_err(|e| bad(&e))?,
            )),
        };
        Ok(Registry {
            pool,
            sql: lookup_sql(config.backend, &config.table),
        })
    }

    /// The registry's row for `id`, `None` when it has none. The caller bounds the time.
    pub async fn fetch(&self, id: &str) -> Result<Option<CameraInfo>, String> {
        // The statement is built from a checked table name only; the id is bound.
        let sql = || AssertSqlSafe(self.sql.as_str());
        let row: Option<Row> = match &self.pool {
            Pool::Sqlite(pool) => query_as(sql()).bind(id).fetch_optional(pool).await,
            Pool::Postgres(pool) => query_as(sql()).bind(id).fetch_optional(pool).await,
            Pool::MySql(pool) => query_as(sql()).bind(id).fetch_optional(pool).await,
            Pool::SqlServer(pool) => return pool.fetch(&self.sql, id).await,
        }
        .map_err(|e| e.to_string())?;
        Ok(row.map(|(location, status, install_date)| CameraInfo {
            location,
            status,
            install_date,
        }))
    }

    /// Closes the pool's connections (at shutdown).
    pub async fn close(&self) {
        match &self.pool {
            Pool::Sqlite(pool) => pool.close().await,
            Pool::Postgres(pool) => pool.close().await,
            Pool::MySql(pool) => pool.close().await,
            Pool::SqlServer(_) => {}
        }
    }
}

fn pool_options<DB: sqlx::Database>(size: u32, wait: Duration) -> sqlx::pool::PoolOptions<DB> {
    sqlx::pool::PoolOptions::new()
        .max_connections(size)
        .min_connections(0)
        .acquire_timeout(wait)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lookup_uses_each_databases_placeholder() {
        assert!(
            lookup_sql(Backend::Postgres, "CameraRegistry").ends_with("camera_id = $1 LIMIT 1")
        );
        assert!(lookup_sql(Backend::MySql, "t").contains("camera_id = ? LIMIT 1"));
        assert!(lookup_sql(Backend::Sqlite, "t").contains("camera_id = ?1"));
        assert!(lookup_sql(Backend::SqlServer, "dbo.CameraRegistry").contains("@P1"));
        assert!(lookup_sql(Backend::SqlServer, "dbo.CameraRegistry").contains("FROM dbo."));
    }
}
