//! The camera registry of seed 000 (`CameraRegistry`) in a SQLite file: created and seeded on
//! first run, and edited by `vision-demo registry set`.

use std::path::Path;

use anyhow::{Context as _, Result};
use rusqlite::{Connection, params};

/// Seed rows: (location, status, install_date); camera `i` gets row `i % len`.
const SITES: [(&str, &str, &str); 8] = [
    ("Assembly line 1", "active", "2023-04-01"),
    ("Assembly line 2", "active", "2023-04-01"),
    ("Loading dock", "maintenance", "2021-11-30"),
    ("Paint shop", "active", "2022-06-15"),
    ("Warehouse aisle 7", "active", "2020-02-10"),
    ("Quality lab", "calibrating", "2024-01-22"),
    ("Main gate", "active", "2019-09-05"),
    ("Boiler room", "offline", "2018-03-12"),
];

/// Camera ids as the processor names them: `cam-01`, `cam-02`, …
pub fn camera_ids(count: usize) -> Vec<String> {
    let width = count.to_string().len().max(2);
    (1..=count).map(|i| format!("cam-{i:0width$}")).collect()
}

/// Creates the table and rows for `cameras` when the file is new; an existing registry is
/// left as it is (a user's edits survive restarts).
pub fn ensure(path: &Path, cameras: usize) -> Result<()> {
    let db = Connection::open(path).with_context(|| format!("opening {}", path.display()))?;
    db.execute_batch(
        "CREATE TABLE IF NOT EXISTS CameraRegistry (
             camera_id TEXT PRIMARY KEY,
             location TEXT,
             status TEXT,
             install_date TEXT
         )",
    )?;
    let rows: i64 = db.query_row("SELECT COUNT(*) FROM CameraRegistry", [], |r| r.get(0))?;
    if rows > 0 {
        return Ok(());
    }
    for (i, id) in camera_ids(cameras).iter().enumerate() {
        let (location, status, date) = SITES[i % SITES.len()];
        db.execute(
            "INSERT INTO CameraRegistry (camera_id, location, status, install_date)
             VALUES (?1, ?2, ?3, ?4)",
            params![id, location, status, date],
        )?;
    }
    Ok(())
}

/// Sets one camera's row (inserting it when missing; a new registry is created first).
pub fn set(path: &Path, camera: &str, location: &str, status: &str, date: &str) -> Result<()> {
    ensure(path, 0)?;
    let db = Connection::open(path).with_context(|| format!("opening {}", path.display()))?;
    db.execute(
        "INSERT INTO CameraRegistry (camera_id, location, status, install_date)
         VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(camera_id) DO UPDATE SET
             location = excluded.location, status = excluded.status,
             install_date = excluded.install_date",
        params![camera, location, status, date],
    )
    .with_context(|| format!("updating {}", path.display()))?;
    Ok(())
}
