//! Password hashing and token handling.

pub mod password;
pub(crate) mod sessions;
pub mod tokens;
