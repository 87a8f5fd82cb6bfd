//! The apps folder (`app_path`): every definition file directly inside it.

use std::path::{Path, PathBuf};

use crate::api::load_api_file;
use crate::errors::ConfigError;
use crate::model::ApiDefinition;

/// File extensions read as API definitions.
const EXTENSIONS: [&str; 3] = ["json", "yaml", "yml"];

/// Loads every `*.json`, `*.yaml` and `*.yml` file directly in `dir`, sorted by file name.
///
/// Each file gets its own result so one bad file does not hide the good ones. Hidden files
/// (editor and sync leftovers such as `.x.json.swp` or `.~x.json`) are skipped. When Tyk's
/// control API stored an OAS API it wrote a pair, `<name>.json` (a classic copy) and
/// `<name>-oas.json`; the OAS file is loaded and its classic copy skipped (Tyk too loads the
/// pair as one API), so the pair is not reported as a duplicate. A missing or unreadable folder gives a single
/// entry for `dir` with one error.
pub fn load_app_dir(dir: &Path) -> Vec<(PathBuf, Result<ApiDefinition, Vec<ConfigError>>)> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            let reason = if e.kind() == std::io::ErrorKind::NotFound {
                format!("API definition folder not found: {}", dir.display())
            } else {
                format!("cannot read the API definition folder: {e}")
            };
            return vec![(
                dir.to_path_buf(),
                Err(vec![ConfigError::new(dir, "", reason)]),
            )];
        }
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && is_definition_file(p))
        .collect();
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));

    let twins: Vec<PathBuf> = files.iter().filter_map(|p| classic_twin(p)).collect();
    files
        .into_iter()
        .filter(|p| {
            let skip = twins.contains(p);
            if skip {
                tracing::debug!(file = %p.display(), "skipping classic copy of an OAS definition");
            }
            !skip
        })
        .map(|p| {
            let result = load_api_file(&p);
            (p, result)
        })
        .collect()
}

fn is_definition_file(path: &Path) -> bool {
    let hidden = path
        .file_name()
        .and_then(|n| n.to_str())
        .is_none_or(|n| n.starts_with('.'));
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    !hidden && ext.is_some_and(|e| EXTENSIONS.contains(&e.as_str()))
}

/// For `x-oas.json`, the path of its classic copy `x.json`, if that file exists.
fn classic_twin(path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?.to_str()?;
    let stem = name.strip_suffix("-oas.json")?;
    let twin = path.with_file_name(format!("{stem}.json"));
    twin.is_file().then_some(twin)
}
