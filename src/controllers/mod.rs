//! Controllers: one module per kind plus the shared reconcile machinery.
