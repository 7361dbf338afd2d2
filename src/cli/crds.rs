//! `meshes-operator crds`: writes the generated CRD YAML (rendered by
//! [`crate::resources::crdgen`]) into `crds/` and `charts/meshes-operator/crds/`, or with
//! `--check` reports files that differ from the Rust types. The file I/O lives here so the
//! resource layer stays pure.

use std::path::{Path, PathBuf};

use crate::resources::crdgen::{CrdGenError, HEADER, render_files};

/// Directories, relative to the repository root, that hold the generated CRD files.
pub const OUTPUT_DIRS: [&str; 2] = ["crds", "charts/meshes-operator/crds"];

/// Errors while writing or checking the CRD files.
#[derive(Debug, thiserror::Error)]
pub enum CrdFilesError {
    /// A CRD could not be rendered.
    #[error(transparent)]
    Render(#[from] CrdGenError),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// The `crds` subcommand: write the files under `root`, or with `check` fail when they differ
/// from the generated ones. Progress and drift go to stderr.
pub fn command(check: bool, root: &Path) -> anyhow::Result<()> {
    if check {
        let drifted = check_all(root)?;
        if !drifted.is_empty() {
            for path in &drifted {
                eprintln!("out of date: {}", path.display());
            }
            anyhow::bail!(
                "{} CRD file(s) differ from src/resources; run `meshes-operator crds`",
                drifted.len()
            );
        }
        eprintln!("CRD files are up to date");
    } else {
        for path in write_all(root)? {
            eprintln!("wrote {}", path.display());
        }
    }
    Ok(())
}

/// Writes the generated files into every [`OUTPUT_DIRS`] entry under `root`, removing stale
/// generated files (ones carrying [`HEADER`]) that no longer correspond to a CRD. Returns the
/// paths written.
pub fn write_all(root: &Path) -> Result<Vec<PathBuf>, CrdFilesError> {
    let files = render_files()?;
    let mut written = Vec::new();
    for dir in OUTPUT_DIRS {
        let dir = root.join(dir);
        std::fs::create_dir_all(&dir).map_err(|source| CrdFilesError::Io {
            path: dir.clone(),
            source,
        })?;
        for stale in stale_files(&dir, &files)? {
            std::fs::remove_file(&stale).map_err(|source| CrdFilesError::Io {
                path: stale.clone(),
                source,
            })?;
        }
        for (name, content) in &files {
            let path = dir.join(name);
            std::fs::write(&path, content).map_err(|source| CrdFilesError::Io {
                path: path.clone(),
                source,
            })?;
            written.push(path);
        }
    }
    Ok(written)
}

/// Compares the files on disk under `root` with freshly generated ones. Returns the paths that
/// are missing, differ, or are stale generated files; empty means up to date.
pub fn check_all(root: &Path) -> Result<Vec<PathBuf>, CrdFilesError> {
    let files = render_files()?;
    let mut drifted = Vec::new();
    for dir in OUTPUT_DIRS {
        let dir = root.join(dir);
        for (name, content) in &files {
            let path = dir.join(name);
            match std::fs::read_to_string(&path) {
                Ok(on_disk) if on_disk == *content => {}
                Ok(_) => drifted.push(path),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => drifted.push(path),
                Err(source) => return Err(CrdFilesError::Io { path, source }),
            }
        }
        if dir.is_dir() {
            drifted.extend(stale_files(&dir, &files)?);
        }
    }
    Ok(drifted)
}

/// Generated YAML files in `dir` that are not among `files`.
fn stale_files(dir: &Path, files: &[(String, String)]) -> Result<Vec<PathBuf>, CrdFilesError> {
    let io = |source| CrdFilesError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut stale = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if !name.ends_with(".yaml") || files.iter().any(|(f, _)| f == name) {
            continue;
        }
        let generated = std::fs::read_to_string(&path)
            .map(|c| c.starts_with(HEADER))
            .unwrap_or(false);
        if generated {
            stale.push(path);
        }
    }
    Ok(stale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_crd_files_match_the_rust_types() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let drifted = check_all(root).unwrap();
        assert!(
            drifted.is_empty(),
            "CRD files out of date, run `cargo run -- crds`: {drifted:?}"
        );
        // Both directories hold the same, complete set.
        for dir in OUTPUT_DIRS {
            for (name, content) in render_files().unwrap() {
                assert_eq!(
                    std::fs::read_to_string(root.join(dir).join(&name)).unwrap(),
                    content
                );
            }
        }
    }

    /// `serde_yaml` is deprecated and unmaintained (its last release is `0.9.34+deprecated`):
    /// no crate of the workspace may depend on it, directly or through another crate.
    #[test]
    fn no_crate_depends_on_the_deprecated_serde_yaml() {
        let lock =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.lock"))
                .unwrap();
        let deprecated: Vec<&str> = lock
            .split("[[package]]")
            .filter(|p| p.lines().any(|l| l.trim() == "name = \"serde_yaml\""))
            .collect();
        assert!(
            deprecated.is_empty(),
            "Cargo.lock still holds the deprecated serde_yaml: {deprecated:?}"
        );
        // Positive control: the lock file does list the YAML crate that replaced it.
        assert!(lock.contains("name = \"serde_yaml_ng\""));
    }

    #[test]
    fn check_reports_modified_missing_and_stale_files() {
        let tmp = std::env::temp_dir().join(format!("meshes-crdgen-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        assert_eq!(check_all(&tmp).unwrap().len(), 6, "everything missing");
        write_all(&tmp).unwrap();
        assert!(check_all(&tmp).unwrap().is_empty());

        let edited = tmp.join("crds/meshesrules.meshes.io.yaml");
        let mut text = std::fs::read_to_string(&edited).unwrap();
        text.push_str("# hand edit\n");
        std::fs::write(&edited, text).unwrap();
        let stale = tmp.join("charts/meshes-operator/crds/old.meshes.io.yaml");
        std::fs::write(&stale, format!("{HEADER}kind: CustomResourceDefinition\n")).unwrap();
        let foreign = tmp.join("crds/kustomization.yaml");
        std::fs::write(&foreign, "resources: []\n").unwrap();
        let drifted = check_all(&tmp).unwrap();
        assert_eq!(drifted, vec![edited, stale.clone()]);

        write_all(&tmp).unwrap();
        assert!(check_all(&tmp).unwrap().is_empty());
        assert!(!stale.exists(), "stale generated file removed");
        assert!(foreign.exists(), "files not generated by us are left alone");
        std::fs::remove_dir_all(&tmp).unwrap();
    }
}
