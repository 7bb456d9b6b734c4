//! Domain values tests build rows from.

use domain::{Email, NewUser, Username};

/// A user to insert directly through a repository (the hash is a stub:
/// such a user cannot log in).
pub fn new_user(email: &str, username: &str) -> NewUser {
    NewUser {
        uuid: uuid::Uuid::new_v4(),
        email: Email::parse(email).expect("a valid email"),
        username: Username::parse(username).expect("a valid username"),
        password_hash: "$argon2id$stub".into(),
    }
}
