//! Custom resource types (`meshes.io/v1alpha1`) and their generated schema. Knows nothing of HTTP.
