//! Plain domain types of the product: users, credentials and the rules their
//! values obey.
//!
//! This crate is the vocabulary every other layer shares. It must not know how
//! values are stored (no SeaORM), how they travel (no actix, no serde formats
//! of the wire), or where they are cached (no Redis). Values with invariants
//! are parsed once at the edge into types with private fields, so code that
//! holds a [`user::Email`] never has to ask whether it is valid.

pub mod error;
pub mod user;

pub use error::InvalidValue;
pub use user::{Email, NewUser, Password, User, UserId, Username};
