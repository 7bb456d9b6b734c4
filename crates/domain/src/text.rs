//! Text of bounded length, the value type of most string fields.
//!
//! `Text<1, 100>` is one line of 1 to 100 characters, `MultilineText<1,
//! 1000>` may also hold tabs and line breaks; a resource names its own
//! (`pub type TaskTitle = Text<1, 100>;`), and every layer reads the rules
//! from that one place: the parser, the OpenAPI schema (`TaskTitle::MAX_LEN`,
//! `TaskTitle::PATTERN`) and the cache's deserializer.
//!
//! Control characters are refused: NUL cannot be stored in Postgres text
//! (it would be a 500 there and accepted on SQLite), and the others have no
//! place in a title or a description but to confuse whoever reads them.

use serde::{Deserialize, Serialize};

use crate::error::{InvalidValue, check_length};

/// A string of `MIN..=MAX` characters (not bytes, as Pydantic counts) with
/// no control character, or with tabs and line breaks only when
/// `MULTILINE`; deserialized only through [`Text::parse`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Text<const MIN: usize, const MAX: usize, const MULTILINE: bool = false>(String);

/// Text that may span lines: tabs, `\n` and `\r` are allowed.
pub type MultilineText<const MIN: usize, const MAX: usize> = Text<MIN, MAX, true>;

impl<const MIN: usize, const MAX: usize, const MULTILINE: bool> Text<MIN, MAX, MULTILINE> {
    /// The fewest characters allowed.
    pub const MIN_LEN: usize = MIN;
    /// The most characters allowed.
    pub const MAX_LEN: usize = MAX;
    /// The character rule as an ECMA-262 regular expression, for the API's
    /// schema: no control character (Unicode `Cc`, what `char::is_control`
    /// tests) anywhere, but tab, `\n` and `\r` in multiline text. A
    /// lookahead rather than `[...]*$`, since `$` also matches before a
    /// final newline in Python's regular expressions, which fuzzers use.
    pub const PATTERN: &'static str = if MULTILINE {
        r"^(?![\s\S]*[\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F])"
    } else {
        r"^(?![\s\S]*[\x00-\x1F\x7F-\x9F])"
    };

    /// The text, if its length is within the bounds and it holds no
    /// character it may not.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        Self::check(raw)?;
        Ok(Self(raw.to_owned()))
    }

    fn check(raw: &str) -> Result<(), InvalidValue> {
        check_length(raw, MIN, MAX)?;
        let allowed = |c: char| MULTILINE && matches!(c, '\t' | '\n' | '\r');
        if raw.chars().any(|c| c.is_control() && !allowed(c)) {
            return Err(InvalidValue::new(
                "string_pattern_mismatch",
                if MULTILINE {
                    "Text must not contain control characters other than tabs and line breaks"
                } else {
                    "Text must be one line without control characters (no tab or line break)"
                },
            ));
        }
        Ok(())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

// Checked and kept as it is: a cached task's text is not copied again.
impl<const MIN: usize, const MAX: usize, const MULTILINE: bool> TryFrom<String>
    for Text<MIN, MAX, MULTILINE>
{
    type Error = InvalidValue;

    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::check(&raw)?;
        Ok(Self(raw))
    }
}

crate::text_value!(@text [const MIN: usize, const MAX: usize, const MULTILINE: bool] Text<MIN, MAX, MULTILINE>);

#[cfg(test)]
mod tests {
    use super::{MultilineText, Text};

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

    #[test]
    fn control_characters_are_refused_and_line_breaks_only_in_multiline_text() {
        type Line = Text<1, 20>;
        type Lines = MultilineText<1, 20>;
        for bad in ["a\u{0}b", "a\u{7}", "\u{1b}[31m", "a\u{7f}", "a\u{85}b"] {
            assert_eq!(
                Line::parse(bad).unwrap_err().kind(),
                "string_pattern_mismatch"
            );
            assert_eq!(
                Lines::parse(bad).unwrap_err().kind(),
                "string_pattern_mismatch"
            );
        }
        for breaks in ["a\tb", "a\nb", "a\r\nb"] {
            assert!(Line::parse(breaks).is_err(), "{breaks:?}");
            assert_eq!(Lines::parse(breaks).unwrap().as_str(), breaks);
        }
        assert!(Line::try_from("a\u{0}".to_owned()).is_err());
        assert_eq!(
            Line::parse("Ünïcode — fine").unwrap().as_str(),
            "Ünïcode — fine"
        );
    }
}
