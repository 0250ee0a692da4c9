//! Exact money: integer minor units in storage and arithmetic, decimal major units in JSON
//! (`250`, `249.5`).

use serde::Serialize;

/// An ISO 4217 currency this service accepts, with its number of decimal places.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Currency {
    pub code: &'static str,
    pub exponent: u32,
}

const CURRENCIES: &[Currency] = &[
    Currency {
        code: "INR",
        exponent: 2,
    },
    Currency {
        code: "USD",
        exponent: 2,
    },
    Currency {
        code: "EUR",
        exponent: 2,
    },
    Currency {
        code: "GBP",
        exponent: 2,
    },
    Currency {
        code: "AED",
        exponent: 2,
    },
    Currency {
        code: "SGD",
        exponent: 2,
    },
    Currency {
        code: "AUD",
        exponent: 2,
    },
    Currency {
        code: "CAD",
        exponent: 2,
    },
    Currency {
        code: "LKR",
        exponent: 2,
    },
    Currency {
        code: "JPY",
        exponent: 0,
    },
    Currency {
        code: "KRW",
        exponent: 0,
    },
    Currency {
        code: "BHD",
        exponent: 3,
    },
    Currency {
        code: "KWD",
        exponent: 3,
    },
];

impl Currency {
    /// The currency for an upper-case ISO code, if supported.
    pub fn parse(code: &str) -> Option<Self> {
        CURRENCIES.iter().copied().find(|c| c.code == code)
    }

    /// Every supported code, for error messages.
    pub fn codes() -> Vec<&'static str> {
        CURRENCIES.iter().map(|c| c.code).collect()
    }

    fn scale(self) -> i64 {
        10_i64.pow(self.exponent)
    }

    /// Converts a JSON price in major units to minor units, refusing negative values, values
    /// with more decimals than the currency has, and amounts over 10^12 major units.
    pub fn to_minor(self, major: f64) -> Result<i64, &'static str> {
        if !major.is_finite() || major < 0.0 {
            return Err("price must be a non-negative number");
        }
        if major > 1e12 {
            return Err("price is too large");
        }
        let scaled = major * self.scale() as f64;
        let rounded = scaled.round();
        if (scaled - rounded).abs() > 1e-6 * rounded.abs().max(1.0) {
            return Err("price has more decimal places than the currency allows");
        }
        // In range: checked above that major <= 1e12 and scale <= 1000.
        Ok(rounded as i64)
    }

    /// The JSON number for `minor` units: exact for every amount below 2^53 minor units.
    pub fn to_major(self, minor: i64) -> serde_json::Number {
        if minor % self.scale() == 0 {
            return serde_json::Number::from(minor / self.scale());
        }
        let text = format!(
            "{}.{:0width$}",
            minor / self.scale(),
            (minor % self.scale()).abs(),
            width = self.exponent as usize
        );
        let value: f64 = text.trim_end_matches('0').parse().unwrap_or(0.0);
        serde_json::Number::from_f64(value).unwrap_or_else(|| serde_json::Number::from(0))
    }
}

/// An amount in a currency, serialised as its major-unit number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Money {
    pub minor: i64,
    pub currency: Currency,
}

impl Serialize for Money {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.currency.to_major(self.minor).serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn inr() -> Currency {
        Currency::parse("INR").expect("INR")
    }

    #[test]
    fn major_units_render_like_the_seed() {
        assert_eq!(inr().to_major(25_000).to_string(), "250");
        assert_eq!(inr().to_major(24_950).to_string(), "249.5");
        assert_eq!(inr().to_major(24_999).to_string(), "249.99");
        assert_eq!(inr().to_major(5).to_string(), "0.05");
        let jpy = Currency::parse("JPY").expect("JPY");
        assert_eq!(jpy.to_major(1200).to_string(), "1200");
        let bhd = Currency::parse("BHD").expect("BHD");
        assert_eq!(bhd.to_major(1_005).to_string(), "1.005");
    }

    #[test]
    fn prices_parse_exactly_or_not_at_all() {
        assert_eq!(inr().to_minor(250.0), Ok(25_000));
        assert_eq!(inr().to_minor(249.5), Ok(24_950));
        assert_eq!(inr().to_minor(0.1), Ok(10));
        assert_eq!(inr().to_minor(19.99), Ok(1_999));
        assert!(inr().to_minor(249.555).is_err());
        assert!(inr().to_minor(-1.0).is_err());
        assert!(inr().to_minor(f64::NAN).is_err());
        assert!(inr().to_minor(1e13).is_err());
        let jpy = Currency::parse("JPY").expect("JPY");
        assert!(jpy.to_minor(10.5).is_err());
        assert!(Currency::parse("inr").is_none());
        assert!(Currency::parse("XXX").is_none());
    }

    proptest! {
        /// minor -> JSON major -> minor is the identity for every currency and realistic amount.
        #[test]
        fn money_round_trips_through_json(minor in 0i64..1_000_000_000_000, idx in 0usize..CURRENCIES.len()) {
            let currency = CURRENCIES[idx];
            let json = serde_json::to_string(&Money { minor, currency }).expect("serialise");
            let major: f64 = json.parse().expect("a JSON number");
            prop_assert_eq!(currency.to_minor(major), Ok(minor));
        }

        #[test]
        fn to_minor_never_panics(x in proptest::num::f64::ANY) {
            let _ = inr().to_minor(x);
        }
    }
}
