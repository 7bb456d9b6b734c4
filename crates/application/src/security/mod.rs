//! Password hashing and token handling.

pub mod password;
pub mod tokens;
