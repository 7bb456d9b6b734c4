//! Users and the values they are made of, with the FastAPI template's rules.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    acl::{AclPrincipal, AclRule, Guarded, Permission, Principal},
    error::{InvalidValue, check_length},
};

/// The database identity of a user. Internal: clients see [`User::uuid`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct UserId(pub i64);

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A stored user, as the rest of the system sees it. The password hash stays
/// in the persistence and application layers and is not part of this type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Internal identity, used in tokens and foreign keys.
    pub id: UserId,
    /// Public identity, the only id clients ever see.
    pub uuid: Uuid,
    pub email: Email,
    pub username: Username,
    /// Admins pass every access check.
    pub is_admin: bool,
    /// When the owner of `email` proved it by following a mailed link;
    /// `None`: not yet.
    #[serde(default)]
    pub email_verified_at: Option<DateTime<Utc>>,
    /// An address the user asked to change to. `email` stays in force
    /// until this one is verified.
    #[serde(default)]
    pub pending_email: Option<Email>,
    /// How many times `email` changed. A job or a mailed token made for
    /// one version is void at another, so nothing mailed to an address
    /// reaches or works for the account once it has another.
    #[serde(default)]
    pub email_version: i64,
    /// How many times the account's credentials were retired (password
    /// change, reset, promotion): a link minted at another is void.
    #[serde(default)]
    pub credentials_version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The template's rules: anyone may read users and register; a user may
/// edit themself; admins may do everything (including delete).
impl Guarded for User {
    type UserField = UserUserField;

    fn acl() -> Vec<AclRule<UserUserField>> {
        use AclPrincipal::{Fixed, UserInField};
        vec![
            AclRule::allow(
                Fixed(Principal::Everyone),
                &[Permission::Read, Permission::Create],
            ),
            AclRule::allow(
                UserInField(UserUserField::Id),
                &[Permission::Read, Permission::Edit],
            ),
            AclRule::allow(Fixed(Principal::admin()), Permission::ALL),
        ]
    }

    fn user_in_field(&self, field: UserUserField) -> Option<UserId> {
        match field {
            UserUserField::Id => Some(self.id),
        }
    }
}

/// The fields of a user that hold a user, for its ACL: the account itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserUserField {
    /// `id`: the account's own id.
    Id,
}

/// A change to one's own account; `None` leaves the field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    /// Becomes the pending address; it takes over once verified.
    pub email: Option<Email>,
    pub username: Option<Username>,
    pub password: Option<Password>,
}

/// What is needed to store a new user: parsed values and an already computed
/// password hash (hashing is the application layer's job).
#[derive(Debug, Clone)]
pub struct NewUser {
    pub uuid: Uuid,
    pub email: Email,
    pub username: Username,
    pub password_hash: String,
}

/// An email address, lower-cased so that `Alice@Example.com` and
/// `alice@example.com` are one account.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    /// Longest address SMTP can carry (RFC 5321 path limit minus brackets).
    pub const MAX_LEN: usize = 254;
    /// [`Email::parse`]'s rules as an ECMA-262 regular expression, for the
    /// API's schema (with [`Email::MAX_LEN`]): a local part of at most 64
    /// of the allowed characters with no leading, trailing or double dot,
    /// and at least two domain labels of letters, digits and inner hyphens,
    /// the last not all digits.
    pub const PATTERN: &'static str = concat!(
        r"^(?=[^@]{1,64}@)[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*",
        r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+",
        r"(?![0-9]+$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$"
    );

    /// Parses a raw address, rejecting anything that is not a plausible
    /// `local@domain.tld` mailbox.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let invalid = |why: &str| {
            InvalidValue::new(
                "value_error",
                format!("value is not a valid email address: {why}"),
            )
        };
        if raw.len() > Self::MAX_LEN {
            return Err(invalid("The email address is too long."));
        }
        let Some((local, domain)) = raw.rsplit_once('@') else {
            return Err(invalid("An email address must have an @-sign."));
        };
        if local.is_empty() {
            return Err(invalid("There must be something before the @-sign."));
        }
        if local.len() > 64 {
            return Err(invalid("The part before the @-sign is too long."));
        }
        let local_ok = local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c))
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..");
        if !local_ok {
            return Err(invalid(
                "The part before the @-sign contains invalid characters.",
            ));
        }
        if domain.is_empty() {
            return Err(invalid("There must be something after the @-sign."));
        }
        let labels: Vec<&str> = domain.split('.').collect();
        let labels_ok = labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
        if !labels_ok {
            return Err(invalid("The part after the @-sign is not a valid domain."));
        }
        let tld = labels.last().copied().unwrap_or_default();
        if labels.len() < 2 || tld.chars().all(|c| c.is_ascii_digit()) {
            return Err(invalid(
                "The part after the @-sign is not valid. It should have a period.",
            ));
        }
        Ok(Self(raw.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

crate::text_value!([] Email, [] Username);

/// Columns a user list may be sorted by (`?sort=username`, `-username`).
pub const SORTABLE: &[&str] = &["id", "username", "email", "created_at", "updated_at"];

/// A public handle: 3 to 64 ASCII letters and digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Username(String);

impl Username {
    pub const MIN_LEN: usize = 3;
    pub const MAX_LEN: usize = 64;
    /// [`Username::parse`]'s character rule, for the API's schema.
    pub const PATTERN: &'static str = "^[A-Za-z0-9]+$";

    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        check_length(raw, Self::MIN_LEN, Self::MAX_LEN)?;
        if !raw.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(InvalidValue::value_error(
                "Username must not contain special characters",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A character class a password must contain, and the complaint if it does not.
type PasswordRule = (fn(char) -> bool, &'static str);

/// A new password that satisfies the strength rules: 8 to 64 characters with
/// upper- and lower-case letters, a digit and a special character.
///
/// The plain text never appears in `Debug` output, so it cannot leak into logs.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub const MIN_LEN: usize = 8;
    pub const MAX_LEN: usize = 64;
    /// [`Password::parse`]'s character rules, for the API's schema: some
    /// character that is not an ASCII letter or digit, a digit, an upper- and
    /// a lower-case letter, anywhere (`[\s\S]`, since `.` stops at a newline).
    pub const PATTERN: &'static str =
        r"^(?=[\s\S]*[^A-Za-z0-9])(?=[\s\S]*[0-9])(?=[\s\S]*[A-Z])(?=[\s\S]*[a-z])";

    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        check_length(raw, Self::MIN_LEN, Self::MAX_LEN)?;
        let rules: [PasswordRule; 4] = [
            (
                |c| !c.is_ascii_alphanumeric(),
                "Password must contain special characters",
            ),
            (|c| c.is_ascii_digit(), "Password must contain numbers"),
            (
                |c| c.is_ascii_uppercase(),
                "Password must contain uppercase characters",
            ),
            (
                |c| c.is_ascii_lowercase(),
                "Password must contain lowercase characters",
            ),
        ];
        for (holds, message) in rules {
            if !raw.chars().any(holds) {
                return Err(InvalidValue::value_error(message));
            }
        }
        Ok(Self(raw.to_owned()))
    }

    /// The plain text, for the password hasher only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_deserialize_only_through_their_parser() {
        let email: Email = serde_json::from_str("\"Ada@Example.com\"").unwrap();
        assert_eq!(email.as_str(), "ada@example.com");
        assert_eq!(
            serde_json::to_string(&email).unwrap(),
            "\"ada@example.com\""
        );
        let refused = serde_json::from_str::<Email>("\"not an email\"").unwrap_err();
        assert!(refused.to_string().contains("email"), "{refused}");
        assert!(serde_json::from_str::<Username>("\"a b\"").is_err());
        assert!(serde_json::from_str::<crate::TaskTitle>("\"\"").is_err());
        let title: crate::TaskTitle = serde_json::from_str("\"Write\"").unwrap();
        assert_eq!(title.as_str(), "Write");
    }

    #[test]
    fn email_accepts_ordinary_addresses_and_lowercases_them() {
        let email = Email::parse("John.Doe+tag@Example.co.uk").unwrap();
        assert_eq!(email.as_str(), "john.doe+tag@example.co.uk");
    }

    #[test]
    fn email_rejects_malformed_addresses() {
        for raw in [
            "",
            "plain",
            "@example.com",
            "a@",
            "a@localhost",
            "a@b..com",
            "a@-b.com",
            "a b@example.com",
            ".a@example.com",
            "a..b@example.com",
            "a@example.123",
            "a@exa_mple.com",
        ] {
            let err = Email::parse(raw).expect_err(raw);
            assert_eq!(err.kind(), "value_error", "{raw}");
            assert!(
                err.message()
                    .starts_with("value is not a valid email address")
            );
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(Email::parse(&long).is_err());
    }

    #[test]
    fn username_rules() {
        assert!(Username::parse("abc").is_ok());
        assert!(Username::parse(&"a".repeat(64)).is_ok());
        assert_eq!(
            Username::parse("ab").unwrap_err().kind(),
            "string_too_short"
        );
        assert_eq!(
            Username::parse(&"a".repeat(65)).unwrap_err().kind(),
            "string_too_long"
        );
        let err = Username::parse("john_doe").unwrap_err();
        assert_eq!(err.kind(), "value_error");
        assert_eq!(
            err.message(),
            "Value error, Username must not contain special characters"
        );
    }

    #[test]
    fn password_rules_name_the_missing_class() {
        assert!(Password::parse("Str0ng!pass").is_ok());
        let cases = [
            ("Sh0rt!", "string_too_short", "at least 8 characters"),
            ("NoSpecial123", "value_error", "special characters"),
            ("NoDigits!!", "value_error", "numbers"),
            ("noupper1!", "value_error", "uppercase"),
            ("NOLOWER1!", "value_error", "lowercase"),
        ];
        for (raw, kind, fragment) in cases {
            let err = Password::parse(raw).unwrap_err();
            assert_eq!(err.kind(), kind, "{raw}");
            assert!(err.message().contains(fragment), "{raw}: {}", err.message());
        }
        let long = format!("Aa1!{}", "x".repeat(61));
        assert_eq!(
            Password::parse(&long).unwrap_err().kind(),
            "string_too_long"
        );
    }

    #[test]
    fn password_debug_never_shows_the_secret() {
        let password = Password::parse("Str0ng!pass").unwrap();
        assert!(!format!("{password:?}").contains("Str0ng"));
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        // Eight characters in twelve bytes; seven characters in ten bytes.
        assert!(Password::parse("Aa1!ääää").is_ok());
        assert_eq!(
            Password::parse("Aa1!äää").unwrap_err().kind(),
            "string_too_short"
        );
    }
}
