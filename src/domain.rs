//! The states of the things we sell, as types. Each enum is stored as the lowercase text the
//! migrations' `CHECK` constraints list (mapped here and nowhere else) and serialised the same
//! way in JSON, so a status can never be misspelt in Rust.

use serde::{Deserialize, Serialize};

macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        #[sqlx(type_name = "TEXT", rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// The stored and serialised text.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

text_enum! {
    /// A show's life: drafted, on sale, then over or called off.
    ShowStatus {
        Draft => "draft",
        Live => "live",
        Completed => "completed",
        Cancelled => "cancelled",
    }
}

text_enum! {
    /// A seat of a live show as the database records it (`inventory.status`).
    InventoryStatus {
        Available => "available",
        Sold => "sold",
        /// Not for sale (the show was cancelled).
        Blocked => "blocked",
    }
}

text_enum! {
    /// A seat as a visitor sees it: the inventory with the holds laid over it.
    SeatStatus {
        Available => "available",
        Held => "held",
        Sold => "sold",
        Blocked => "blocked",
    }
}

impl From<InventoryStatus> for SeatStatus {
    fn from(status: InventoryStatus) -> Self {
        match status {
            InventoryStatus::Available => Self::Available,
            InventoryStatus::Sold => Self::Sold,
            InventoryStatus::Blocked => Self::Blocked,
        }
    }
}

text_enum! {
    /// A booking: confirmed when paid, cancelled (and refunded) after.
    BookingStatus {
        Confirmed => "confirmed",
        Cancelled => "cancelled",
    }
}

text_enum! {
    /// A ticket: valid until its booking or show is cancelled.
    TicketStatus {
        Valid => "valid",
        Void => "void",
    }
}

text_enum! {
    /// A card payment, as we record it and as the provider reports it.
    PaymentStatus {
        Authorized => "authorized",
        Captured => "captured",
        Voided => "voided",
        RefundPending => "refund_pending",
        Refunded => "refunded",
        Declined => "declined",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_matches_serde_for_every_variant() {
        for status in [
            PaymentStatus::Authorized,
            PaymentStatus::Captured,
            PaymentStatus::Voided,
            PaymentStatus::RefundPending,
            PaymentStatus::Refunded,
            PaymentStatus::Declined,
        ] {
            let json = serde_json::to_value(status).expect("serialises");
            assert_eq!(json, status.as_str());
        }
        assert_eq!(
            serde_json::to_value(ShowStatus::Cancelled).expect("serialises"),
            "cancelled"
        );
        assert_eq!(
            SeatStatus::from(InventoryStatus::Blocked),
            SeatStatus::Blocked
        );
    }
}
