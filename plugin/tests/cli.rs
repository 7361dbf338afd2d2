//! The `kubectl-meshes` executable as a process: help with examples, shell completion, and a
//! one-line error (exit 1) when there is no usable kubeconfig. Everything that needs a cluster
//! and Meshes is in the root integration binary (`tests/integration/plugin.rs`).

#![allow(clippy::unwrap_used)]

use std::process::Command;

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kubectl-meshes"))
        .args(args)
        .env_remove("KUBECONFIG")
        .env("HOME", "/nonexistent-home-for-kubectl-meshes-tests")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn help_shows_examples_for_every_command() {
    let (code, out, _) = run(&["--help"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("Examples:") && out.contains("kubectl meshes tree -n acme"),
        "{out}"
    );
    for cmd in ["tree", "deliveries", "send", "retry", "completion"] {
        let (code, out, err) = run(&[cmd, "--help"]);
        assert_eq!(code, 0, "{cmd}: {err}");
        assert!(
            out.contains("Example"),
            "{cmd} --help has no example:\n{out}"
        );
    }
}

#[test]
fn completion_scripts_know_the_commands() {
    for shell in ["bash", "zsh", "fish"] {
        let (code, out, err) = run(&["completion", shell]);
        assert_eq!(code, 0, "{shell}: {err}");
        assert!(
            out.contains("kubectl-meshes") && out.contains("deliveries"),
            "{shell}"
        );
    }
    let (code, _, err) = run(&["completion", "cmd.exe"]);
    assert_eq!(code, 2, "an unknown shell is a usage error");
    assert!(err.contains("invalid value"), "{err}");
}

#[test]
fn no_kubeconfig_is_one_clear_line() {
    let (code, out, err) = run(&["--kubeconfig", "/nonexistent/kubeconfig", "tree"]);
    assert_eq!(code, 1);
    assert!(out.is_empty());
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("error: cannot read kubeconfig /nonexistent/kubeconfig"),
        "{err}"
    );
}
