//! Users, roles and tokens (SPEC §4): register, login, refresh-token rotation with reuse
//! detection, logout and `/me`.

pub mod password;
mod routes;
pub mod store;
pub mod tokens;

use serde::{Deserialize, Serialize};

pub use routes::router;

/// A role. Roles in a token only shape the UI; the server checks them against the database.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    PartialOrd,
    Ord,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    User,
    Organiser,
    VenueOwner,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Organiser => "organiser",
            Self::VenueOwner => "venue_owner",
            Self::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "user" => Some(Self::User),
            "organiser" => Some(Self::Organiser),
            "venue_owner" => Some(Self::VenueOwner),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }
}

/// A normalised email address: trimmed, with a plausible `local@domain.tld` shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    /// As the user typed it (trimmed).
    pub display: String,
    /// Lower-cased, the unique key.
    pub normalised: String,
}

impl Email {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let display = raw.trim();
        if display.is_empty() {
            return Err("email is required");
        }
        if display.len() > 254 {
            return Err("email is too long");
        }
        let Some((local, domain)) = display.rsplit_once('@') else {
            return Err("email must look like name@example.com");
        };
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && domain
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
        if local.is_empty() || local.len() > 64 || local.contains(char::is_whitespace) || !domain_ok
        {
            return Err("email must look like name@example.com");
        }
        // The address must also be one we can send tickets to.
        if display.parse::<lettre::Address>().is_err() {
            return Err("email must look like name@example.com");
        }
        Ok(Self {
            display: display.to_owned(),
            normalised: display.to_lowercase(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        let e = Email::parse("  Asha@Example.COM ").expect("valid");
        assert_eq!(e.display, "Asha@Example.COM");
        assert_eq!(e.normalised, "asha@example.com");
        for bad in [
            "",
            "a",
            "a@b",
            "@b.com",
            "a@.com",
            "a@b.",
            "a b@c.com",
            "a@b..com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    proptest! {
        #[test]
        fn email_parsing_never_panics_and_is_idempotent(s in "\\PC{0,80}") {
            if let Ok(e) = Email::parse(&s) {
                let again = Email::parse(&e.display).expect("a parsed email parses again");
                prop_assert_eq!(again, e);
            }
        }
    }
}
