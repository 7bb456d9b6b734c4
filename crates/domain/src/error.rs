//! The error a value parser returns when raw input breaks a rule.

use std::fmt;

/// Why a raw value could not become a domain value.
///
/// `kind` is a short machine-readable code (the same codes Pydantic uses, so
/// clients of the FastAPI template keep working: `string_too_short`,
/// `value_error`, ...); `message` is the sentence shown to people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidValue {
    kind: &'static str,
    message: String,
}

impl InvalidValue {
    /// A rule broken by the value, with the code and sentence to report.
    pub fn new(kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// A custom rule (Pydantic's `value_error`); the message is prefixed the
    /// way Pydantic prefixes validator messages.
    pub fn value_error(message: &str) -> Self {
        Self::new("value_error", format!("Value error, {message}"))
    }

    /// Machine-readable code of the broken rule.
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// Human-readable description of the broken rule.
    pub fn message(&self) -> &str {
        &self.message
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

impl fmt::Display for InvalidValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for InvalidValue {}

/// Checks a string's length in characters (not bytes), as Pydantic does.
pub fn check_length(raw: &str, min: usize, max: usize) -> Result<(), InvalidValue> {
    let len = raw.chars().count();
    if len < min {
        Err(InvalidValue::new(
            "string_too_short",
            format!("String should have at least {min} character{}", plural(min)),
        ))
    } else if len > max {
        Err(InvalidValue::new(
            "string_too_long",
            format!("String should have at most {max} character{}", plural(max)),
        ))
    } else {
        Ok(())
    }
}

/// Serde for value types: serialized as their text, and deserialized only
/// through their parser, so a value read from JSON (a request, a cache
/// entry) satisfies the same rules as one parsed by hand. Used with
/// `#[serde(try_from = "String", into = "String")]` on the type. Also
/// their `Display`: the text itself. Each type comes with its generic
/// parameters in brackets (`[]` for none).
#[macro_export]
#[doc(hidden)]
macro_rules! text_value {
    ($([$($generics:tt)*] $ty:ty),+ $(,)?) => {
        $(
            impl<$($generics)*> TryFrom<String> for $ty {
                type Error = $crate::InvalidValue;

                fn try_from(raw: String) -> Result<Self, Self::Error> {
                    Self::parse(&raw)
                }
            }

            $crate::text_value!(@text [$($generics)*] $ty);
        )+
    };
    // The text itself out, for a type whose `TryFrom<String>` is its own.
    (@text [$($generics:tt)*] $ty:ty) => {
        impl<$($generics)*> From<$ty> for String {
            fn from(value: $ty) -> Self {
                value.0
            }
        }

        impl<$($generics)*> std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}
