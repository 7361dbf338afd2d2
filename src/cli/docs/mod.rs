//! `meshes-operator generate`: every generated file from one command — the CRD YAML
//! ([`crate::cli::crds`]) and the reference pages under `docs/reference/` (the configuration
//! reference from the flags and the chart's values, the CRD reference from the schema) — or
//! with `--check` the list of files that differ (CI).

mod crd_ref;
mod flags;
mod md;
pub mod values_map;

use std::path::{Path, PathBuf};

use crate::resources::crdgen::all_crds;

/// The chart values file the configuration reference reads, relative to the repository root.
pub const VALUES: &str = "charts/meshes-operator/values.yaml";

/// The generated pages: (path relative to the root, content).
pub fn render_pages(root: &Path) -> anyhow::Result<Vec<(PathBuf, String)>> {
    let values_path = root.join(VALUES);
    let values = std::fs::read_to_string(&values_path)
        .map_err(|e| anyhow::anyhow!("{}: {e}", values_path.display()))?;
    let values = values_map::parse(&values);
    Ok(vec![
        (
            PathBuf::from("docs/reference/configuration.md"),
            flags::render(&values)?,
        ),
        (
            PathBuf::from("docs/reference/crds.md"),
            crd_ref::render(&all_crds())?,
        ),
    ])
}

/// Pages on disk under `root` that are missing or differ from the generated ones.
pub fn check_pages(root: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut drifted = Vec::new();
    for (rel, content) in render_pages(root)? {
        let path = root.join(&rel);
        if std::fs::read_to_string(&path).ok().as_deref() != Some(content.as_str()) {
            drifted.push(path);
        }
    }
    Ok(drifted)
}

/// The `generate` subcommand. Progress and drift go to stderr.
pub fn command(check: bool, root: &Path) -> anyhow::Result<()> {
    if check {
        let mut drifted = super::crds::check_all(root)?;
        drifted.extend(check_pages(root)?);
        for path in &drifted {
            eprintln!("out of date: {}", path.display());
        }
        if !drifted.is_empty() {
            anyhow::bail!(
                "{} generated file(s) differ from the code; run `meshes-operator generate`",
                drifted.len()
            );
        }
        eprintln!("generated files are up to date");
        return Ok(());
    }
    for path in super::crds::write_all(root)? {
        eprintln!("wrote {}", path.display());
    }
    for (rel, content) in render_pages(root)? {
        let path = root.join(rel);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&path, content)?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::reasons;

    fn root() -> &'static Path {
        Path::new(env!("CARGO_MANIFEST_DIR"))
    }

    #[test]
    fn the_reference_pages_match_the_code() {
        let drifted = check_pages(root()).unwrap();
        assert!(
            drifted.is_empty(),
            "out of date (run `cargo run -p meshes-operator -- generate`): {drifted:?}"
        );
    }

    /// The troubleshooting page has an entry for every reason the code can write, and none for
    /// a reason it cannot.
    #[test]
    fn troubleshooting_has_an_entry_for_every_reason() {
        let page = std::fs::read_to_string(root().join("docs/troubleshooting.md")).unwrap();
        let headings: Vec<&str> = page
            .lines()
            .filter_map(|l| l.strip_prefix("### `"))
            .filter_map(|l| l.split('`').next())
            .collect();
        let vocabulary = reasons::all();
        let missing: Vec<&&str> = vocabulary
            .iter()
            .filter(|r| !headings.contains(r))
            .collect();
        assert!(missing.is_empty(), "reasons without an entry: {missing:?}");
        let unknown: Vec<&&str> = headings
            .iter()
            .filter(|h| !vocabulary.contains(h))
            .collect();
        assert!(
            unknown.is_empty(),
            "entries for unknown reasons: {unknown:?}"
        );
    }
}
