//! The krew manifest (`plugin/krew/meshes.yaml`) has the shape krew requires, names the binary
//! this crate builds, and carries the crate's version, so a release cannot ship a manifest
//! that points at the wrong thing.

#![allow(clippy::unwrap_used)]

use serde_json::Value;

#[test]
fn the_krew_manifest_matches_the_crate() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/krew/meshes.yaml");
    let text = std::fs::read_to_string(path).unwrap();
    let m: Value = serde_yaml_ng::from_str(&text).unwrap();
    assert_eq!(
        m["apiVersion"],
        "krew.googlecontainertools.github.com/v1alpha2"
    );
    assert_eq!(m["kind"], "Plugin");
    assert_eq!(
        m["metadata"]["name"], "meshes",
        "kubectl meshes = plugin name meshes"
    );
    let spec = &m["spec"];
    assert_eq!(spec["version"], format!("v{}", env!("CARGO_PKG_VERSION")));
    for key in ["homepage", "shortDescription", "description", "caveats"] {
        assert!(spec[key].as_str().is_some_and(|s| !s.is_empty()), "{key}");
    }
    let platforms = spec["platforms"].as_array().unwrap();
    assert!(platforms.len() >= 2);
    for p in platforms {
        assert_eq!(p["bin"], "kubectl-meshes", "{p}");
        let uri = p["uri"].as_str().unwrap();
        let os = p["selector"]["matchLabels"]["os"].as_str().unwrap();
        let arch = p["selector"]["matchLabels"]["arch"].as_str().unwrap();
        assert!(
            uri.ends_with(&format!("kubectl-meshes_{os}_{arch}.tar.gz")),
            "{uri}"
        );
        assert!(
            uri.contains(&format!("/v{}/", env!("CARGO_PKG_VERSION"))),
            "{uri}"
        );
        let sha = p["sha256"].as_str().unwrap();
        assert!(
            sha.len() == 64 && sha.chars().all(|c| c.is_ascii_hexdigit()),
            "{sha}"
        );
    }
}
