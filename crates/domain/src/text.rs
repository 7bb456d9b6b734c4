//! Text of bounded length, the value type of most string fields.
//!
//! `Text<1, 100>` is a string of 1 to 100 characters; a resource names its
//! own (`pub type TaskTitle = Text<1, 100>;`), and every layer reads the
//! bounds from that one place: the parser, the OpenAPI schema
//! (`TaskTitle::MAX_LEN`) and the cache's deserializer.

use serde::{Deserialize, Serialize};

use crate::error::{InvalidValue, check_length};

/// A string of `MIN..=MAX` characters (not bytes, as Pydantic counts),
/// deserialized only through [`Text::parse`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Text<const MIN: usize, const MAX: usize>(String);

impl<const MIN: usize, const MAX: usize> Text<MIN, MAX> {
    /// The fewest characters allowed.
    pub const MIN_LEN: usize = MIN;
    /// The most characters allowed.
    pub const MAX_LEN: usize = MAX;

    /// The text, if its length is within the bounds.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        check_length(raw, MIN, MAX)?;
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

// Checked and kept as it is: a cached task's text is not copied again.
impl<const MIN: usize, const MAX: usize> TryFrom<String> for Text<MIN, MAX> {
    type Error = InvalidValue;

    fn try_from(raw: String) -> Result<Self, Self::Error> {
        check_length(&raw, MIN, MAX)?;
        Ok(Self(raw))
    }
}

crate::text_value!(@text [const MIN: usize, const MAX: usize] Text<MIN, MAX>);

#[cfg(test)]
mod tests {
    use super::Text;

    #[test]
    fn bounds_count_characters_and_hold_for_serde_too() {
        type Name = Text<2, 3>;
        assert_eq!(Name::parse("a").unwrap_err().kind(), "string_too_short");
        assert_eq!(Name::parse("äöü").unwrap().as_str(), "äöü");
        assert_eq!(Name::parse("abcd").unwrap_err().kind(), "string_too_long");
        assert!(serde_json::from_str::<Name>("\"abcd\"").is_err());
        let name: Name = serde_json::from_str("\"ab\"").unwrap();
        assert_eq!(serde_json::to_string(&name).unwrap(), "\"ab\"");
    }
}
