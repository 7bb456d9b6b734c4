//! Values that must not leak: [`Secret`] and [`SecretUrl`] mask
//! themselves in `Debug`, `Display` and serialization, which is what makes
//! `Settings::describe` safe to print.

use std::fmt;

use serde::{Deserialize, Serialize, Serializer};

/// A value shown only masked: all of it (`URL` false, [`Secret`]) or the
/// passwords in a connection URL (`URL` true, [`SecretUrl`]).
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Masked<const URL: bool>(String);

/// A secret value: usable, but never printed, logged or serialized.
pub type Secret = Masked<false>;

/// A connection URL that may carry a password, masked wherever the URL is
/// shown. Which schemes a setting accepts is checked in `Settings::check`.
pub type SecretUrl = Masked<true>;

impl<const URL: bool> Masked<URL> {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself, for the one place that needs it (the client that
    /// connects, the token signer).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl<const URL: bool> fmt::Display for Masked<URL> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if URL {
            f.write_str(&mask_url(&self.0))
        } else {
            f.write_str("****")
        }
    }
}

impl<const URL: bool> fmt::Debug for Masked<URL> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.to_string())
    }
}

impl<const URL: bool> Serialize for Masked<URL> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A URL with every password replaced by `****`, safe to log: the one in
/// `user:password@host`, and query parameters that carry secrets
/// (`?password=`, `sslpassword=`, `secret=`, `token=`, `key=`...).
pub fn mask_url(url: &str) -> String {
    // The user-info first, up to the last `@`, as a password may hold `?`
    // or `/`; query parameters only after it.
    let (masked, rest) = match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let (scheme, user_info) = url[..at].split_at(scheme_end + 3);
            let user_info = match user_info.split_once(':') {
                Some((user, _)) => format!("{user}:****"),
                None => user_info.to_owned(),
            };
            (format!("{scheme}{user_info}"), &url[at..])
        }
        _ => (String::new(), url),
    };
    let Some((base, query)) = rest.split_once('?') else {
        return masked + rest;
    };
    let secret = |name: &str| {
        let name = name.to_ascii_lowercase();
        ["pass", "pwd", "secret", "token", "key"]
            .iter()
            .any(|word| name.contains(word))
    };
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if secret(name) => format!("{name}=****"),
            _ => pair.to_owned(),
        })
        .collect();
    format!("{masked}{base}?{}", pairs.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_in_urls_are_masked() {
        assert_eq!(
            mask_url("postgres://app:s3cret@db:5432/app"),
            "postgres://app:****@db:5432/app"
        );
        assert_eq!(mask_url("postgres://app@db/app"), "postgres://app@db/app");
        assert_eq!(mask_url("sqlite://data/app.db"), "sqlite://data/app.db");
        assert_eq!(
            mask_url("postgres://db/app?user=app&password=s3cret&sslmode=require"),
            "postgres://db/app?user=app&password=****&sslmode=require"
        );
        assert_eq!(
            mask_url("postgres://u:p@db/app?sslpassword=k3y&application_name=x"),
            "postgres://u:****@db/app?sslpassword=****&application_name=x"
        );
        assert_eq!(
            mask_url("sqlite://data/app.db?mode=rwc"),
            "sqlite://data/app.db?mode=rwc"
        );
        assert_eq!(
            mask_url("postgres://app:pa?ss/w@db/app?sslmode=require"),
            "postgres://app:****@db/app?sslmode=require"
        );
    }
}
