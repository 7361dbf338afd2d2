//! `--state <path>`: the whole [`State`] as one JSON document. A background task rewrites it at
//! most every 200 ms when the store's generation moved: serialize under the read lock, write to
//! `<path>.tmp`, fsync, rename over `<path>`, fsync the directory. A SIGKILL at any moment
//! leaves either the previous or the new complete file, never a torn one; at most the last
//! ~200 ms of changes are lost. The file holds secrets (machine keys, connection secrets) and
//! is created with mode 0600.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::watch;

use crate::store::{State, Store};

/// Interval between checks for changes.
pub const SNAPSHOT_INTERVAL: Duration = Duration::from_millis(200);

/// Reads a state file; `Ok(None)` when it does not exist.
pub fn load(path: &Path) -> anyhow::Result<Option<State>> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(anyhow::anyhow!("reading {}: {e}", path.display())),
    };
    let mut state: State = serde_json::from_slice(&bytes)
        .map_err(|e| anyhow::anyhow!("state file {} is not valid: {e}", path.display()))?;
    state.rebuild_indexes();
    Ok(Some(state))
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Writes `bytes` to `path` atomically and durably.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = tmp_path(path);
    {
        let mut opts = OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    // The rename itself is durable only once the directory entry is flushed.
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && let Ok(d) = File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Serializes the store and writes it; returns the generation written.
pub fn save(store: &Store, path: &Path) -> anyhow::Result<u64> {
    let (generation, bytes) = {
        let world = store.read();
        (store.generation(), serde_json::to_vec(&*world)?)
    };
    write_atomic(path, &bytes)?;
    Ok(generation)
}

/// Saves whenever the store changed, until `stop` turns true; then saves once more.
pub async fn run_snapshotter(store: Store, path: PathBuf, mut stop: watch::Receiver<bool>) {
    let mut saved = u64::MAX;
    loop {
        let stopping = tokio::select! {
            _ = tokio::time::sleep(SNAPSHOT_INTERVAL) => false,
            _ = stop.wait_for(|s| *s) => true,
        };
        if store.generation() != saved {
            let (s, p) = (store.clone(), path.clone());
            match tokio::task::spawn_blocking(move || save(&s, &p)).await {
                Ok(Ok(g)) => saved = g,
                Ok(Err(e)) => {
                    tracing::error!(error = %e, path = %path.display(), "saving state failed")
                }
                Err(e) => tracing::error!(error = %e, "state saver panicked"),
            }
        }
        if stopping {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_and_load_round_trip() {
        let dir = std::env::temp_dir().join(format!("emu-persist-{}", uuid::Uuid::new_v4()));
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        let path = dir.join("state.json");
        assert!(load(&path).map(|s| s.is_none()).unwrap_or(false));
        let store = Store::default();
        let ws = store
            .write()
            .create_workspace("org", "Persisted", None, "u");
        let g = save(&store, &path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(g, store.generation());
        let loaded = load(&path).ok().flatten().unwrap_or_default();
        assert_eq!(
            loaded.workspaces.get(&ws.id).map(|w| w.name.as_str()),
            Some("Persisted")
        );
        assert!(!tmp_path(&path).exists());
        fs::write(&path, b"{not json").unwrap_or_else(|e| panic!("{e}"));
        assert!(load(&path).is_err());
        let _ = fs::remove_dir_all(&dir);
    }
}
