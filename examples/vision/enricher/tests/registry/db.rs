//! Throwaway registries on the machine's real servers: a temp SQLite file, or a database with a
//! unique name on PostgreSQL or MariaDB, dropped when the test ends. A server that cannot be
//! reached fails the test with what to start: these tests never skip.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::{AssertSqlSafe, Connection};

pub const PG_HOST: &str = "127.0.0.1:5432";
pub const MARIADB_HOST: &str = "127.0.0.1:3306";

/// The seed's table, with a real DATE column; cam-2 has NULLs.
const SCHEMA: &str = "CREATE TABLE CameraRegistry (camera_id VARCHAR(64) PRIMARY KEY, \
                      location VARCHAR(200), status VARCHAR(32), install_date DATE)";
const ROWS: &str = "INSERT INTO CameraRegistry (camera_id, location, status, install_date) VALUES \
                    ('cam-1', 'North Gate', 'active', '2023-04-01'), \
                    ('cam-2', NULL, 'maintenance', NULL), \
                    ('cam-3', 'Dock', 'active', '2021-11-30'), \
                    ('cam-4', 'Paint shop', 'offline', '2020-01-15')";

pub enum Kind {
    Sqlite { _dir: tempfile::TempDir },
    Postgres,
    MariaDb,
}

/// A registry with the seed's table and four cameras.
pub struct Db {
    pub kind: Kind,
    pub name: String,
}

fn unique_name() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("weir_enricher_{}_{n}_{nanos}", std::process::id())
}

fn block_on<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(f)
}

async fn run_all<C: Connection>(conn: &mut C, statements: &[&str])
where
    for<'c> &'c mut C: sqlx::Executor<'c, Database = C::Database>,
{
    for sql in statements {
        sqlx::raw_sql(AssertSqlSafe(sql.to_string()))
            .execute(&mut *conn)
            .await
            .unwrap_or_else(|e| panic!("`{sql}` failed: {e}"));
    }
}

async fn pg(db: &str) -> sqlx::PgConnection {
    let url = format!("postgres://postgres@{PG_HOST}/{db}");
    sqlx::PgConnection::connect(&url).await.unwrap_or_else(|e| {
        panic!(
            "PostgreSQL is not reachable at {PG_HOST} as user postgres ({e}): start it \
             (`service postgresql start`); these tests need it and never skip"
        )
    })
}

async fn maria(db: &str) -> sqlx::MySqlConnection {
    let url = format!("mysql://root@{MARIADB_HOST}/{db}");
    sqlx::MySqlConnection::connect(&url).await.unwrap_or_else(|e| {
        panic!(
            "MariaDB is not reachable at {MARIADB_HOST} as root without a password ({e}): start \
             it (`service mariadb start`); these tests need it and never skip"
        )
    })
}

impl Db {
    pub fn sqlite() -> Db {
        let dir = tempfile::tempdir().expect("a temp dir");
        let db = Db {
            name: dir.path().join("registry.db").display().to_string(),
            kind: Kind::Sqlite { _dir: dir },
        };
        let url = format!("sqlite://{}?mode=rwc", db.name);
        block_on(async {
            let mut conn = sqlx::SqliteConnection::connect(&url).await.expect("sqlite");
            run_all(&mut conn, &[SCHEMA, ROWS]).await;
        });
        db
    }

    pub fn postgres() -> Db {
        let name = unique_name();
        block_on(async {
            run_all(
                &mut pg("postgres").await,
                &[&format!("CREATE DATABASE {name}")],
            )
            .await;
            run_all(&mut pg(&name).await, &[SCHEMA, ROWS]).await;
        });
        Db {
            kind: Kind::Postgres,
            name,
        }
    }

    pub fn mariadb() -> Db {
        let name = unique_name();
        block_on(async {
            run_all(&mut maria("").await, &[&format!("CREATE DATABASE {name}")]).await;
            run_all(&mut maria(&name).await, &[SCHEMA, ROWS]).await;
        });
        Db {
            kind: Kind::MariaDb,
            name,
        }
    }

    /// The DSN the plugin gets.
    pub fn dsn(&self) -> String {
        match &self.kind {
            Kind::Sqlite { .. } => format!("sqlite://{}", self.name),
            Kind::Postgres => format!("postgres://postgres@{PG_HOST}/{}", self.name),
            Kind::MariaDb => format!("mysql://root@{MARIADB_HOST}/{}", self.name),
        }
    }

    /// The DSN through a proxy listening on `port` (network databases only).
    pub fn dsn_via(&self, port: u16) -> String {
        match &self.kind {
            Kind::Sqlite { .. } => panic!("SQLite has no network to cut"),
            Kind::Postgres => format!("postgres://postgres@127.0.0.1:{port}/{}", self.name),
            Kind::MariaDb => format!("mysql://root@127.0.0.1:{port}/{}", self.name),
        }
    }

    /// The server's address (network databases only).
    pub fn address(&self) -> &'static str {
        match &self.kind {
            Kind::Sqlite { .. } => panic!("SQLite has no server"),
            Kind::Postgres => PG_HOST,
            Kind::MariaDb => MARIADB_HOST,
        }
    }

    /// Runs statements on the registry.
    pub fn exec(&self, statements: &[&str]) {
        block_on(async {
            match &self.kind {
                Kind::Sqlite { .. } => {
                    let url = format!("sqlite://{}", self.name);
                    let mut conn = sqlx::SqliteConnection::connect(&url).await.expect("sqlite");
                    run_all(&mut conn, statements).await;
                }
                Kind::Postgres => run_all(&mut pg(&self.name).await, statements).await,
                Kind::MariaDb => run_all(&mut maria(&self.name).await, statements).await,
            }
        })
    }
}

impl Drop for Db {
    /// Best effort: a failing drop must not turn a test's failure into an abort.
    fn drop(&mut self) {
        let name = &self.name;
        let sql = match &self.kind {
            // The TempDir removes the file.
            Kind::Sqlite { .. } => return,
            Kind::Postgres => format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            Kind::MariaDb => format!("DROP DATABASE IF EXISTS {name}"),
        };
        let dropped = block_on(async {
            let sql = AssertSqlSafe(sql.clone());
            match &self.kind {
                Kind::Postgres => {
                    let url = format!("postgres://postgres@{PG_HOST}/postgres");
                    let mut conn = sqlx::PgConnection::connect(&url).await?;
                    sqlx::raw_sql(sql).execute(&mut conn).await.map(drop)
                }
                _ => {
                    let url = format!("mysql://root@{MARIADB_HOST}/");
                    let mut conn = sqlx::MySqlConnection::connect(&url).await?;
                    sqlx::raw_sql(sql).execute(&mut conn).await.map(drop)
                }
            }
        });
        if let Err(e) = dropped {
            eprintln!("could not drop the test database {name}: {e}");
        }
    }
}
