//! Where the pinned control-plane binaries live: a cache outside the repository keyed by the
//! versions in `testenv/versions.env`, filled by `testenv/scripts/build.sh`.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

const VERSIONS: &str = include_str!("../versions.env");

/// A pinned version from `versions.env` (e.g. `KUBE_VERSION`).
pub fn version(name: &str) -> Option<&'static str> {
    VERSIONS.lines().find_map(|line| {
        let (k, v) = line.split_once('=')?;
        (k.trim() == name).then(|| v.trim())
    })
}

/// Root of the harness cache: `$MESHES_TESTENV_CACHE`, else `$XDG_CACHE_HOME` or
/// `~/.cache`, then `meshes-operator/testenv`. Must match `scripts/build.sh`.
pub fn cache_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("MESHES_TESTENV_CACHE") {
        return PathBuf::from(dir);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("meshes-operator").join("testenv")
}

/// The directory holding `kube-apiserver`, `etcd`, `kubectl` and `helm`:
/// `$MESHES_TESTENV_BIN` if set, else the versioned cache directory.
pub fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("MESHES_TESTENV_BIN") {
        return PathBuf::from(dir);
    }
    let key = format!(
        "k8s-{}_etcd-{}_helm-{}",
        version("KUBE_VERSION").unwrap_or("unknown"),
        version("ETCD_VERSION").unwrap_or("unknown"),
        version("HELM_VERSION").unwrap_or("unknown"),
    );
    cache_root().join(key).join("bin")
}

/// The path of one binary, or an error that says how to build it.
pub fn binary(name: &str) -> anyhow::Result<PathBuf> {
    let path = bin_dir().join(name);
    if !is_executable(&path) {
        bail!(
            "control-plane binary {} is missing; build the pinned binaries with \
             `bash testenv/scripts/build.sh` (or point MESHES_TESTENV_BIN at them)",
            path.display()
        );
    }
    Ok(path)
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// The cache directory for run records (pidfiles).
pub fn run_dir() -> anyhow::Result<PathBuf> {
    let dir = cache_root().join("run");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_pinned() {
        assert!(version("KUBE_VERSION").is_some_and(|v| v.starts_with("v1.")));
        assert!(version("ETCD_VERSION").is_some_and(|v| v.starts_with("v3.")));
        assert!(version("HELM_VERSION").is_some_and(|v| v.starts_with("v3.")));
        assert_eq!(version("NOPE"), None);
    }
}
