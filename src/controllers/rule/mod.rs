//! The `MeshesRule` controller: its part of the lifecycle in [`kind`], its pure decisions in
//! [`decide`]; its watch mappers are generic ([`super::references`]).

pub mod decide;
pub mod kind;
