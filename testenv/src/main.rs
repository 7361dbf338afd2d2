//! `meshes-testenv`: start the control plane in the foreground for humans.

fn main() {}
