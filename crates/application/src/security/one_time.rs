//! One-time account tokens (email verification, password reset): 256 random
//! bits, sent in a mail as URL-safe base64 and stored only as their SHA-256.
//!
//! A fast hash is enough here, unlike for passwords: nobody can guess 256
//! random bits, so a stolen table of hashes leads nowhere, and a lookup by
//! hash needs the same input to give the same output (no salt).

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use sha2::{Digest as _, Sha256};

use crate::{Error, Result};

/// A fresh token: `raw` goes in the mail, `hash` in the database.
#[derive(Debug)]
pub(crate) struct Minted {
    pub raw: String,
    pub hash: String,
}

/// Makes a token from the operating system's random source.
pub(crate) fn mint() -> Result<Minted> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|err| Error::Crypto {
        context: "no random bytes for an account token",
        source: err.to_string().into(),
    })?;
    let raw = URL_SAFE_NO_PAD.encode(bytes);
    Ok(Minted {
        hash: hash(&raw),
        raw,
    })
}

/// What the database keeps of `raw`: its SHA-256, in hex.
pub(crate) fn hash(raw: &str) -> String {
    format!("{:x}", Sha256::digest(raw.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_url_safe_and_stored_as_their_hash() {
        let (a, b) = (mint().expect("random"), mint().expect("random"));
        assert_ne!(a.raw, b.raw);
        assert_eq!(a.raw.len(), 43, "256 bits in unpadded base64");
        assert!(
            a.raw
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        assert_eq!(a.hash, hash(&a.raw));
        assert_eq!(a.hash.len(), 64);
        assert!(!a.hash.contains(&a.raw));
    }
}
