//! Keyed pseudonyms of guessable values (email addresses, client
//! addresses) for where a value must be recognised but not kept: rate-limit
//! keys in Redis, trusted addresses in the database. A plain hash would
//! not do: anyone holding the hashes could hash every likely address and
//! compare. An HMAC under a server key cannot be computed without the key.

use hmac::{Hmac, Mac as _};
use sha2::Sha256;

/// Makes pseudonyms under one key, for one purpose.
#[derive(Clone)]
pub struct Pseudonyms {
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for Pseudonyms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pseudonyms").finish_non_exhaustive()
    }
}

impl Pseudonyms {
    /// Pseudonyms under `key` (the server's `SECRET_KEY`) for `purpose`:
    /// the same value gets another pseudonym for each purpose, so one
    /// place's pseudonyms cannot be matched against another's.
    pub fn new(key: &[u8], purpose: &str) -> Self {
        let mut derive = Hmac::<Sha256>::new_from_slice(key)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        derive.update(purpose.as_bytes());
        let subkey = derive.finalize().into_bytes();
        Self {
            mac: Hmac::new_from_slice(&subkey)
                .unwrap_or_else(|_| unreachable!("HMAC takes any key length")),
        }
    }

    /// The pseudonym of `value`: 128 bits of its HMAC, in hex.
    pub fn of(&self, value: &str) -> String {
        let mut mac = self.mac.clone();
        mac.update(value.as_bytes());
        let digest = mac.finalize().into_bytes();
        digest[..16]
            .iter()
            .fold(String::with_capacity(32), |mut hex, byte| {
                use std::fmt::Write as _;
                let _ = write!(hex, "{byte:02x}");
                hex
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudonyms_are_stable_per_key_and_purpose_and_hide_the_value() {
        let limits = Pseudonyms::new(b"key", "rate-limit");
        let a = limits.of("ada@example.com");
        assert_eq!(a, limits.of("ada@example.com"));
        assert_eq!(a.len(), 32);
        assert!(!a.contains("ada"));
        assert_ne!(a, limits.of("bob@example.com"));
        assert_ne!(
            a,
            Pseudonyms::new(b"key", "trusted-address").of("ada@example.com")
        );
        assert_ne!(
            a,
            Pseudonyms::new(b"other", "rate-limit").of("ada@example.com")
        );
    }
}
