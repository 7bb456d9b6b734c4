//! Reading variables into typed fields: the `deserialize_with` rules
//! (`within`, `any_case`, ...), comma lists, origins, and the mapping of the
//! `config` crate's errors to a [`ConfigError`] that names the variable.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Deserializer, Serialize, Serializer, de::DeserializeOwned};

use super::{ConfigError, SECTIONS};

/// A comma-separated list (`a, b,c`); blank items are skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommaList<T>(pub Vec<T>);

impl<T> Default for CommaList<T> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<T> std::ops::Deref for CommaList<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.0
    }
}

impl<'de, T: FromStr> Deserialize<'de> for CommaList<T>
where
    T::Err: fmt::Display,
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(|item| item.parse().map_err(serde::de::Error::custom))
            .collect::<Result<_, _>>()
            .map(Self)
    }
}

impl<T: fmt::Display> Serialize for CommaList<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let items: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        serializer.serialize_str(&items.join(","))
    }
}

/// An address or a range of them (`10.0.0.1`, `10.0.0.0/8`, `fd00::/8`):
/// where the proxies in front of the API are. A range serves proxies whose
/// addresses change, as ingress pods' do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRange(ipnet::IpNet);

impl IpRange {
    /// Whether `ip` is in the range; IPv4 addresses mapped into IPv6
    /// (`::ffff:10.0.0.1`, as a dual-stack listener reports them) count as
    /// the IPv4 addresses they are.
    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        self.0.contains(&ip.to_canonical())
    }
}

impl FromStr for IpRange {
    type Err = String;
    fn from_str(raw: &str) -> Result<Self, String> {
        if let Ok(net) = raw.parse::<ipnet::IpNet>() {
            return Ok(Self(net.trunc()));
        }
        raw.parse::<std::net::IpAddr>()
            .map(|ip| Self(ipnet::IpNet::from(ip.to_canonical())))
            .map_err(|_| format!("{raw:?} is neither an IP address nor a range such as 10.0.0.0/8"))
    }
}

impl fmt::Display for IpRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A browser origin (`https://app.example.com`, no trailing slash) or `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin(String);

impl Origin {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is `*`, any origin.
    pub fn is_any(&self) -> bool {
        self.0 == "*"
    }
}

impl FromStr for Origin {
    type Err = String;
    fn from_str(raw: &str) -> Result<Self, String> {
        let origin = raw.trim_end_matches('/');
        if origin == "*" || origin.starts_with("http://") || origin.starts_with("https://") {
            Ok(Self(origin.to_owned()))
        } else {
            Err(format!(
                "{raw:?} is not an origin like https://app.example.com"
            ))
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A whole number from `MIN` to `MAX`, for `deserialize_with`.
pub(super) fn within<'de, D, T, const MIN: u64, const MAX: u64>(
    deserializer: D,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<u64>,
{
    // Read as text (the environment's own type) so the message can quote it.
    let raw = String::deserialize(deserializer)?;
    raw.parse::<u64>()
        .ok()
        .filter(|n| (MIN..=MAX).contains(n))
        .and_then(|n| T::try_from(n).ok())
        .ok_or_else(|| {
            serde::de::Error::custom(format!(
                "expected a whole number from {MIN} to {MAX}, got {raw:?}"
            ))
        })
}

/// An optional whole number from `MIN` to `MAX`, for `deserialize_with`.
pub(super) fn within_opt<'de, D, T, const MIN: u64, const MAX: u64>(
    deserializer: D,
) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<u64>,
{
    within::<D, T, MIN, MAX>(deserializer).map(Some)
}

/// An enum's name in any letter case (`Production`, `JSON`, `hs256`).
pub(super) fn any_case<'de, D: Deserializer<'de>, T: DeserializeOwned>(
    deserializer: D,
) -> Result<T, D::Error> {
    use serde::de::IntoDeserializer as _;
    let raw = String::deserialize(deserializer)?.to_ascii_lowercase();
    T::deserialize(raw.into_deserializer())
        .map_err(|err: serde::de::value::Error| serde::de::Error::custom(err))
}

pub(super) fn mailbox<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let raw = String::deserialize(deserializer)?;
    crate::mail::parse_mailbox(&raw).map_err(serde::de::Error::custom)?;
    Ok(raw)
}

/// An `http://` or `https://` URL, stored without a trailing slash so that
/// `{url}/path` is one slash.
pub(super) fn base_url<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let raw = String::deserialize(deserializer)?;
    let url = raw.trim_end_matches('/');
    let host = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    if host.is_none_or(str::is_empty) {
        return Err(serde::de::Error::custom(format!(
            "expected a URL starting http:// or https://, got {raw:?}"
        )));
    }
    Ok(url.to_owned())
}

pub(super) fn base_url_opt<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    base_url(deserializer).map(Some)
}

/// A number from 0 to 1.
pub(super) fn ratio<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    let raw = String::deserialize(deserializer)?;
    match raw.trim().parse::<f64>() {
        Ok(ratio) if (0.0..=1.0).contains(&ratio) => Ok(ratio),
        _ => Err(serde::de::Error::custom(format!(
            "expected a number from 0 to 1, got {raw:?}"
        ))),
    }
}

/// `key=value` (an OpenTelemetry resource attribute or header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: String,
}

impl FromStr for KeyValue {
    type Err = String;
    fn from_str(raw: &str) -> Result<Self, String> {
        match raw.split_once('=') {
            Some((key, value)) if !key.trim().is_empty() => Ok(Self {
                key: key.trim().to_owned(),
                value: value.trim().to_owned(),
            }),
            _ => Err(format!("{raw:?} is not key=value")),
        }
    }
}

impl fmt::Display for KeyValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.key, self.value)
    }
}

pub(super) fn log_filter<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let raw = String::deserialize(deserializer)?;
    tracing_subscriber::EnvFilter::try_new(&raw)
        .map_err(|err| serde::de::Error::custom(format!("not a valid log filter ({err})")))?;
    Ok(raw)
}

/// Names the variable at fault in the `config` crate's error, whose key is
/// `section.field` (the field: the variable's name, lowercased, without the
/// section's prefix) or `environment`.
pub(super) fn config_error(err: config::ConfigError) -> ConfigError {
    // `config` names the key in `Type` itself and wraps every other error in `At`.
    let (key, problem) = match err {
        config::ConfigError::Type {
            key,
            unexpected,
            expected,
            ..
        } => (key, format!("expected {expected}, got {unexpected}")),
        config::ConfigError::At { error, key, .. } => (key, error.to_string()),
        other => (None, other.to_string()),
    };
    let key = key.unwrap_or_default();
    let variable = match key.split_once('.') {
        Some((section, field)) => {
            let prefix = SECTIONS
                .iter()
                .find_map(|&(name, prefix)| (name == section).then_some(prefix))
                .unwrap_or_default();
            format!("{prefix}{}", field.to_ascii_uppercase())
        }
        None => key.to_ascii_uppercase(),
    };
    ConfigError::new(variable, problem)
}
