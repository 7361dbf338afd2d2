//! The `MeshesRule` controller: wiring here; its part of the
//! lifecycle in [`kind`], its pure decisions in
//! [`decide`].

pub mod decide;
pub mod kind;

use crate::resources::MeshesRule;

/// Whether rule `r` names connection `name` (its mapper: [`super::mappers::of`]).
pub fn names_connection(r: &MeshesRule, name: &str) -> bool {
    r.spec
        .connection_ref
        .as_ref()
        .is_some_and(|c| c.name == name)
}

/// Whether rule `r` names Secret `name` in `credentialsRef` (its mapper: [`super::mappers::of`]).
pub fn names_credentials(r: &MeshesRule, name: &str) -> bool {
    r.spec
        .credentials_ref
        .as_ref()
        .is_some_and(|c| c.name == name)
}
