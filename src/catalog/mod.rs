//! Events, shows and browsing (SPEC §5): organisers create events and shows with section prices,
//! launch them (pre-populating the inventory) and cancel them; visitors list and read them.

pub mod browse;
pub mod cache;
pub mod events;
pub mod filter;
pub mod shows;
pub mod store;
pub mod time;

use utoipa_axum::router::OpenApiRouter;

use crate::app::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(events::router())
        .merge(shows::router())
        .merge(browse::router())
}

/// A category of event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    Movie,
    Concert,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Movie => "movie",
            Self::Concert => "concert",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "movie" => Some(Self::Movie),
            "concert" => Some(Self::Concert),
            _ => None,
        }
    }
}
