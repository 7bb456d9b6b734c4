//! Password hashing, access and refresh tokens, and the one-time tokens
//! that account mails carry.

pub(crate) mod one_time;
pub mod password;
pub(crate) mod sessions;
pub mod tokens;
