//! Queries on events, shows, their prices and their seats' inventory (SPEC §5): the show list,
//! a show with its section counts, the seat map, and the organiser's writes. Handlers in
//! `catalog/` call these functions and hold no SQL.

mod browse;
mod events;
mod shows;

pub use browse::{
    available_per_section, draft_seat_map, inventory_seat_map, list_shows, load_show, ListFilter,
    SeatMapRow, SectionCounts, ShowRow, ShowSummaryRow, StoredShow, SUMMARY_COLUMNS,
};
pub use events::{
    events_of_organiser, find_event, insert_event, read_event, shows_of_organiser, update_event,
    Event, EventFields, OwnShowRow,
};
pub use shows::{
    cancel_show, insert_show, launch_inventory, update_show_settings, CancelledShow, NewShow,
    ShowSettings,
};
