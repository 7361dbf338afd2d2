//! The container image, built without a container engine (`testenv/scripts/build-image.sh`:
//! a static musl binary, then `testenv/go/imagebuild` writes an OCI layout and a docker
//! tarball), inspected as a container runtime would read it: the index names the tag the
//! chart's default values point at; the config runs the binary as a non-root user; the one
//! layer holds exactly the binary, a CA bundle and passwd/group (no shell); and the binary
//! taken out of the layer is statically linked and runs `version`.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::chart_support::{chart_dir, render};

/// Builds (or reuses) the image and returns its output directory.
fn build_image() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("bash")
        .arg(root.join("testenv/scripts/build-image.sh"))
        .current_dir(root)
        .output()
        .expect("running build-image.sh");
    assert!(
        out.status.success(),
        "build-image.sh failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    PathBuf::from(stdout.lines().last().expect("the output directory").trim())
}

fn blob(layout: &Path, digest: &str) -> Vec<u8> {
    let (alg, hex) = digest.split_once(':').expect("algorithm:hex digest");
    std::fs::read(layout.join("blobs").join(alg).join(hex)).expect("blob")
}

fn json_blob(layout: &Path, digest: &str) -> Value {
    serde_json::from_slice(&blob(layout, digest)).expect("JSON blob")
}

/// Whether an ELF file has a program interpreter (a dynamically linked executable).
fn has_interpreter(elf: &[u8]) -> bool {
    assert_eq!(&elf[..4], b"\x7fELF", "an ELF file");
    assert_eq!(elf[4], 2, "64-bit");
    let u16_at = |o: usize| u16::from_le_bytes([elf[o], elf[o + 1]]) as usize;
    let mut b = [0u8; 8];
    b.copy_from_slice(&elf[0x20..0x28]);
    let phoff = u64::from_le_bytes(b) as usize;
    let (phentsize, phnum) = (u16_at(0x36), u16_at(0x38));
    (0..phnum).any(|i| {
        let o = phoff + i * phentsize;
        u32::from_le_bytes([elf[o], elf[o + 1], elf[o + 2], elf[o + 3]]) == 3 // PT_INTERP
    })
}

#[test]
fn the_image_is_static_non_root_and_runs() {
    let dir = build_image();
    let layout = dir.join("oci");
    let layout_marker: Value =
        serde_json::from_slice(&std::fs::read(layout.join("oci-layout")).unwrap()).unwrap();
    assert_eq!(layout_marker["imageLayoutVersion"], "1.0.0");

    // The index names the tag the chart deploys by default.
    let index: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let manifests = index["manifests"].as_array().unwrap();
    assert_eq!(manifests.len(), 1);
    let tag = manifests[0]["annotations"]["org.opencontainers.image.ref.name"]
        .as_str()
        .unwrap();
    let image_name = manifests[0]["annotations"]["io.containerd.image.name"]
        .as_str()
        .unwrap();
    let chart = render("img", "ops", &[], &[]).unwrap();
    let deployed = chart.one("Deployment")["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        deployed, image_name,
        "the chart's default image is this image"
    );
    assert_eq!(tag, env!("CARGO_PKG_VERSION"));
    let chart_yaml = std::fs::read_to_string(chart_dir().join("Chart.yaml")).unwrap();
    assert!(
        chart_yaml.contains(&format!("appVersion: \"{tag}\"")),
        "Chart.yaml appVersion is the crate version"
    );

    // Config: entrypoint, non-root user, platform.
    let manifest = json_blob(&layout, manifests[0]["digest"].as_str().unwrap());
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    let config = json_blob(&layout, manifest["config"]["digest"].as_str().unwrap());
    assert_eq!(config["os"], "linux");
    assert_eq!(config["architecture"], "amd64");
    let c = &config["config"];
    assert_eq!(
        c["Entrypoint"],
        serde_json::json!(["/usr/local/bin/meshes-operator"])
    );
    assert_eq!(c["Cmd"], serde_json::json!(["run"]));
    assert_eq!(c["User"], "65532:65532");
    assert_eq!(
        chart.one("Deployment")["spec"]["template"]["spec"]["securityContext"]["runAsUser"],
        65532,
        "the chart runs as the image's user"
    );

    // The one layer: exactly these files, root-owned, with these modes.
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1);
    let layer_path = {
        let d = layers[0]["digest"].as_str().unwrap();
        let (alg, hex) = d.split_once(':').unwrap();
        layout.join("blobs").join(alg).join(hex)
    };
    let listing = Command::new("tar")
        .arg("-tvzf")
        .arg(&layer_path)
        .output()
        .unwrap();
    assert!(listing.status.success());
    let listing = String::from_utf8_lossy(&listing.stdout);
    let mut files: Vec<(String, String)> = listing
        .lines()
        .filter(|l| l.starts_with('-'))
        .map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            (
                cols[cols.len() - 1].to_string(),
                format!("{} {}", cols[0], cols[1]),
            )
        })
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            ("etc/group".to_string(), "-rw-r--r-- 0/0".to_string()),
            ("etc/passwd".to_string(), "-rw-r--r-- 0/0".to_string()),
            (
                "etc/ssl/certs/ca-certificates.crt".to_string(),
                "-rw-r--r-- 0/0".to_string()
            ),
            (
                "usr/local/bin/meshes-operator".to_string(),
                "-rwxr-xr-x 0/0".to_string()
            ),
        ],
        "{listing}"
    );
    assert!(!listing.contains("bin/sh"), "no shell in the image");

    // Contents: the user exists, the CA bundle holds certificates, the binary is static and runs.
    let extract = std::env::temp_dir().join(format!("meshes-image-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&extract);
    std::fs::create_dir_all(&extract).unwrap();
    let status = Command::new("tar")
        .arg("-xzf")
        .arg(&layer_path)
        .arg("-C")
        .arg(&extract)
        .status()
        .unwrap();
    assert!(status.success());
    let passwd = std::fs::read_to_string(extract.join("etc/passwd")).unwrap();
    assert!(
        passwd
            .lines()
            .any(|l| l.starts_with("nonroot:x:65532:65532:")),
        "{passwd}"
    );
    let ca = std::fs::read_to_string(extract.join("etc/ssl/certs/ca-certificates.crt")).unwrap();
    assert!(
        ca.matches("BEGIN CERTIFICATE").count() > 10,
        "a real CA bundle"
    );
    let binary = extract.join("usr/local/bin/meshes-operator");
    let elf = std::fs::read(&binary).unwrap();
    assert!(
        !has_interpreter(&elf),
        "statically linked (no ELF interpreter)"
    );
    // Positive control of the ELF check: the test binary itself is dynamically linked.
    let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
    assert!(has_interpreter(&me));
    let out = Command::new(&binary)
        .arg("version")
        .env_clear()
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("meshes-operator {}", env!("CARGO_PKG_VERSION"))
    );
    let _ = std::fs::remove_dir_all(&extract);

    // The docker tarball carries the same tag.
    let manifest_json = Command::new("tar")
        .arg("-xOf")
        .arg(dir.join("meshes-operator.tar"))
        .arg("manifest.json")
        .output()
        .unwrap();
    assert!(manifest_json.status.success());
    let docker: Value = serde_json::from_slice(&manifest_json.stdout).unwrap();
    assert_eq!(docker[0]["RepoTags"], serde_json::json!([image_name]));
}

/// The Dockerfile (for users with a container engine; no engine runs here) builds the same
/// image as `imagebuild`: from scratch, the same four files, user, entrypoint and command.
#[test]
fn the_dockerfile_builds_the_same_image() {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Dockerfile")).unwrap();
    let last_stage = text.rsplit("\nFROM ").next().unwrap();
    assert!(
        last_stage.starts_with("scratch"),
        "the final stage is FROM scratch"
    );
    let mut copied: Vec<&str> = last_stage
        .lines()
        .filter(|l| l.starts_with("COPY "))
        .filter_map(|l| l.split_whitespace().last())
        .collect();
    copied.sort();
    assert_eq!(
        copied,
        [
            "/etc/group",
            "/etc/passwd",
            "/etc/ssl/certs/ca-certificates.crt",
            "/usr/local/bin/meshes-operator"
        ]
    );
    for line in [
        "USER 65532:65532",
        "ENTRYPOINT [\"/usr/local/bin/meshes-operator\"]",
        "CMD [\"run\"]",
        "ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
    ] {
        assert!(last_stage.lines().any(|l| l == line), "missing: {line}");
    }
    assert!(
        !last_stage.contains("RUN "),
        "no RUN in the final stage: it has no shell"
    );
    assert!(
        text.contains("--profile image --target x86_64-unknown-linux-musl"),
        "the same static build as build-image.sh"
    );
}
