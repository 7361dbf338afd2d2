//! meshes-emulator: a local implementation of the Meshes HTTP API for tests and demos.
