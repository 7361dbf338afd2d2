//! The `meshes-emulator` binary.

fn main() {}
