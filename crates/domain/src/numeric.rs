//! Exact decimals of bounded size, the value type of `decimal` fields.
//!
//! `Numeric<19, 4>` holds what a `NUMERIC(19, 4)` column does: at most 4
//! digits after the point and 15 before. Checking that here turns a value
//! the database would refuse (Postgres: "numeric field overflow") into a
//! 422 naming the field, never a 500.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::InvalidValue;

/// A decimal of at most `PRECISION` digits, `SCALE` of them after the
/// point; kept normalized (`12.50` is `12.5`). Serialized as a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "Decimal", into = "Decimal")]
pub struct Numeric<const PRECISION: u32, const SCALE: u32>(Decimal);

impl<const PRECISION: u32, const SCALE: u32> Numeric<PRECISION, SCALE> {
    /// `value`, if it fits.
    pub fn new(value: Decimal) -> Result<Self, InvalidValue> {
        let value = value.normalize();
        if value.scale() > SCALE {
            return Err(InvalidValue::new(
                "decimal_max_places",
                format!("Decimal input should have no more than {SCALE} decimal places"),
            ));
        }
        let whole = value.trunc().abs();
        let whole_digits = if whole.is_zero() {
            0
        } else {
            u32::try_from(whole.to_string().len()).unwrap_or(u32::MAX)
        };
        if whole_digits > PRECISION - SCALE {
            return Err(InvalidValue::new(
                "decimal_whole_digits",
                format!(
                    "Decimal input should have no more than {} digits before the decimal point",
                    PRECISION - SCALE
                ),
            ));
        }
        Ok(Self(value))
    }
}

impl<const PRECISION: u32, const SCALE: u32> TryFrom<Decimal> for Numeric<PRECISION, SCALE> {
    type Error = InvalidValue;

    fn try_from(value: Decimal) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl<const PRECISION: u32, const SCALE: u32> From<Numeric<PRECISION, SCALE>> for Decimal {
    fn from(value: Numeric<PRECISION, SCALE>) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    type Money = Numeric<19, 4>;

    fn money(raw: &str) -> Result<Money, InvalidValue> {
        Money::new(Decimal::from_str(raw).unwrap())
    }

    #[test]
    fn places_and_whole_digits_are_bounded() {
        assert_eq!(Decimal::from(money("12.50").unwrap()).to_string(), "12.5");
        assert!(money("-999999999999999.9999").is_ok());
        assert_eq!(money("0.00001").unwrap_err().kind(), "decimal_max_places");
        assert_eq!(
            money("1000000000000000").unwrap_err().kind(),
            "decimal_whole_digits"
        );
        assert!(serde_json::from_str::<Money>("\"1e20\"").is_err());
        assert_eq!(
            serde_json::to_string(&money("3.10").unwrap()).unwrap(),
            "\"3.1\""
        );
    }
}
