//! argon2id password hashing, off the async runtime.
//!
//! Hashing is deliberately slow (tens of milliseconds of CPU and 19 MiB of
//! memory per call), so it runs on tokio's blocking pool: an async worker
//! thread that hashed would stall every other request it serves.

use std::sync::Arc;

use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier as _, Version};

use crate::{Error, Result};

/// OWASP's recommended argon2id configuration: 19 MiB, 2 passes, 1 lane.
const MEMORY_KIB: u32 = 19 * 1024;
const ITERATIONS: u32 = 2;
const PARALLELISM: u32 = 1;

/// Hashes and verifies passwords.
#[derive(Clone)]
pub struct PasswordHasher {
    /// A hash of a random password with the current parameters. Verifying
    /// against it when the email is unknown costs the same as a real check,
    /// so response time does not reveal which emails have accounts.
    decoy: Arc<str>,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher").finish_non_exhaustive()
    }
}

fn argon2() -> Argon2<'static> {
    let params = Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None)
        .unwrap_or_else(|_| unreachable!("constant argon2 parameters are valid"));
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn hash_blocking(password: &[u8]) -> Result<String> {
    argon2()
        .hash_password(password)
        .map(|hash| hash.to_string())
        .map_err(|err| Error::Crypto {
            context: "password hashing failed",
            source: err.to_string().into(),
        })
}

impl PasswordHasher {
    /// Prepares the hasher, computing the decoy hash (one hash of CPU time,
    /// on the blocking pool like every other).
    pub async fn new() -> Result<Self> {
        let decoy = tokio::task::spawn_blocking(|| hash_blocking(uuid::Uuid::new_v4().as_bytes()))
            .await
            .map_err(Error::Task)??;
        Ok(Self {
            decoy: decoy.into(),
        })
    }

    /// Hashes a password into a PHC string (`$argon2id$v=19$m=19456,...`)
    /// with a fresh random salt.
    pub async fn hash(&self, password: &domain::Password) -> Result<String> {
        let plain = password.expose().to_owned();
        tokio::task::spawn_blocking(move || hash_blocking(plain.as_bytes()))
            .await
            .map_err(Error::Task)?
    }

    /// Whether `plain` matches `hash`. With no hash (unknown account) it
    /// checks against the decoy and returns `false`, spending the same time.
    /// A stored hash that does not parse counts as a mismatch, and is logged.
    pub async fn verify(&self, plain: String, hash: Option<String>) -> Result<bool> {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.decoy.to_string());
        let matches = tokio::task::spawn_blocking(move || {
            match argon2().verify_password(plain.as_bytes(), hash.as_str()) {
                Ok(()) => true,
                Err(argon2::password_hash::Error::PasswordInvalid) => false,
                Err(err) => {
                    tracing::error!(error = %err, "stored password hash cannot be verified");
                    false
                }
            }
        })
        .await
        .map_err(Error::Task)?;
        Ok(known && matches)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_with_owasp_argon2id_and_verifies() {
        let hasher = PasswordHasher::new().await.unwrap();
        let password = domain::Password::parse("Str0ng!pass").unwrap();
        let hash = hasher.hash(&password).await.unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(
            hasher
                .verify("Str0ng!pass".into(), Some(hash.clone()))
                .await
                .unwrap()
        );
        assert!(
            !hasher
                .verify("Wr0ng!pass".into(), Some(hash.clone()))
                .await
                .unwrap()
        );
        // Same password, new salt: a different hash.
        assert_ne!(hash, hasher.hash(&password).await.unwrap());
    }

    #[tokio::test]
    async fn unknown_accounts_never_verify_and_use_the_same_parameters() {
        let hasher = PasswordHasher::new().await.unwrap();
        assert!(hasher.decoy.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(!hasher.verify("anything".into(), None).await.unwrap());
    }

    #[tokio::test]
    async fn a_corrupt_stored_hash_is_a_mismatch_not_a_crash() {
        let hasher = PasswordHasher::new().await.unwrap();
        assert!(
            !hasher
                .verify("x".into(), Some("not-a-hash".into()))
                .await
                .unwrap()
        );
    }
}
