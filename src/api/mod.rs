//! The Meshes management API client. Knows nothing of Kubernetes.
