//! Search (SPEC §9): an embedded tantivy index per node, kept within a couple of seconds of the
//! database by tailing the outbox, and `GET /api/v1/search`.

pub mod index;
mod indexer;
mod routes;
pub mod store;

pub use index::{SearchIndex, SearchQuery, ShowDoc};
pub use indexer::{rebuild, sync_once, Indexer};
pub use routes::router;
