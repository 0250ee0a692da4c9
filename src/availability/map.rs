//! A show's seat map: what never changes once the show is live. Every seat has a stable index
//! 0..N-1 (the venue's seats by seat id), which the live availability and the stream refer to.
//!
//! The layout resource walks the seats in index order, grouped in rows, each row a list of runs
//! of seats with consecutive numbers and x positions:
//!
//! ```json
//! {"show_id": 9, "venue_id": 3, "seat_count": 30, "currency": "INR",
//!  "sections": [{"name": "Gold", "colour": "#d4a017", "priority": 0, "price": 450}],
//!  "rows": [{"section": 0, "label": "A", "y": 0, "runs": [[1, 0, 5]], "accessible": [1]}]}
//! ```
//!
//! A run `[number, x, count]` is seats `number..number+count` at x `x..x+count`; their labels
//! are the row label followed by the number, and their indexes follow on from the previous run.

use std::collections::HashMap;

use bytes::Bytes;
use serde::Serialize;

use super::store::{MapShow, SeatRow, SectionRow};
use crate::money::Currency;

/// One priced section of the map.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MapSection {
    pub name: String,
    pub colour: String,
    pub priority: i32,
    /// In major units of the show's currency.
    #[schema(value_type = f64)]
    pub price: serde_json::Number,
    #[serde(skip)]
    pub price_minor: i64,
}

/// One seat, by index.
#[derive(Debug, Clone)]
pub struct MapSeat {
    pub seat_id: i64,
    pub section: u16,
    pub row: u32,
    pub number: i32,
    pub x: i32,
    pub y: i32,
    pub accessible: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Row {
    /// The section's index in `sections`.
    section: u16,
    label: String,
    y: i32,
    /// `[first seat number, first seat index, count]`: consecutive numbers at consecutive
    /// indexes.
    #[schema(value_type = Vec<Vec<i32>>)]
    runs: Vec<[i32; 3]>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    accessible: Vec<i32>,
}

/// `GET /api/v1/shows/{id}/layout`: the seat map, sections then rows; seat `i` of the
/// availability is the `i`-th seat of the rows' runs.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct LayoutBody {
    show_id: i64,
    venue_id: i64,
    seat_count: usize,
    currency: String,
    sections: Vec<MapSection>,
    rows: Vec<Row>,
}

/// The immutable map of a live show.
#[derive(Debug)]
pub struct SeatMap {
    pub show_id: i64,
    pub venue_id: i64,
    pub currency: String,
    pub sections: Vec<MapSection>,
    pub seats: Vec<MapSeat>,
    /// Row labels, by row number of [`MapSeat::row`].
    pub row_labels: Vec<String>,
    index_by_label: HashMap<String, u32>,
    index_by_seat_id: HashMap<i64, u32>,
    /// The layout resource, rendered once.
    pub layout_json: Bytes,
    pub etag: String,
}

impl SeatMap {
    pub fn build(show: &MapShow, sections: Vec<SectionRow>, seats: Vec<SeatRow>) -> Self {
        let currency = Currency::parse(&show.currency);
        let section_index: HashMap<i64, u16> = sections
            .iter()
            .enumerate()
            .map(|(i, s)| (s.section_id, u16::try_from(i).unwrap_or(u16::MAX)))
            .collect();
        let sections: Vec<MapSection> = sections
            .into_iter()
            .map(|s| MapSection {
                price: currency
                    .map(|c| c.to_major(s.price_minor))
                    .unwrap_or_else(|| serde_json::Number::from(s.price_minor)),
                name: s.name,
                colour: s.colour,
                priority: s.priority,
                price_minor: s.price_minor,
            })
            .collect();
        let mut rows: Vec<Row> = Vec::new();
        let mut row_labels: Vec<String> = Vec::new();
        let mut map_seats = Vec::with_capacity(seats.len());
        let mut index_by_label = HashMap::with_capacity(seats.len());
        let mut index_by_seat_id = HashMap::with_capacity(seats.len());
        for (i, seat) in seats.into_iter().enumerate() {
            let index = u32::try_from(i).unwrap_or(u32::MAX);
            let section = section_index
                .get(&seat.section_id)
                .copied()
                .unwrap_or(u16::MAX);
            let same_row = rows.last().is_some_and(|r| {
                r.section == section && r.label == seat.row_label && r.y == seat.y
            });
            if !same_row {
                rows.push(Row {
                    section,
                    label: seat.row_label.clone(),
                    y: seat.y,
                    runs: Vec::new(),
                    accessible: Vec::new(),
                });
                row_labels.push(seat.row_label.clone());
            }
            let row = rows.last_mut().expect("a row was just pushed");
            match row.runs.last_mut() {
                Some(run) if run[0] + run[2] == seat.number && run[1] + run[2] == seat.x => {
                    run[2] += 1;
                }
                _ => row.runs.push([seat.number, seat.x, 1]),
            }
            if seat.accessible {
                row.accessible.push(seat.number);
            }
            index_by_label.insert(format!("{}{}", seat.row_label, seat.number), index);
            index_by_seat_id.insert(seat.seat_id, index);
            map_seats.push(MapSeat {
                seat_id: seat.seat_id,
                section,
                row: u32::try_from(row_labels.len() - 1).unwrap_or(u32::MAX),
                number: seat.number,
                x: seat.x,
                y: seat.y,
                accessible: seat.accessible,
            });
        }
        let layout = LayoutBody {
            show_id: show.show_id,
            venue_id: show.venue_id,
            seat_count: map_seats.len(),
            currency: show.currency.clone(),
            sections: sections.clone(),
            rows,
        };
        let layout_json = Bytes::from(serde_json::to_vec(&layout).unwrap_or_default());
        let etag = {
            use sha2::{Digest, Sha256};
            let digest = Sha256::digest(&layout_json);
            format!("\"layout-{}\"", hex::encode(&digest[..12]))
        };
        Self {
            show_id: show.show_id,
            venue_id: show.venue_id,
            currency: show.currency.clone(),
            sections,
            seats: map_seats,
            row_labels,
            index_by_label,
            index_by_seat_id,
            layout_json,
            etag,
        }
    }

    pub fn len(&self) -> usize {
        self.seats.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seats.is_empty()
    }

    pub fn index_of_label(&self, label: &str) -> Option<u32> {
        self.index_by_label.get(label).copied()
    }

    pub fn index_of_seat_id(&self, seat_id: i64) -> Option<u32> {
        self.index_by_seat_id.get(&seat_id).copied()
    }

    /// The label of the seat at `index`: its row label followed by its number.
    pub fn label(&self, index: u32) -> Option<String> {
        let seat = self.seats.get(index as usize)?;
        let row = self.row_labels.get(seat.row as usize)?;
        Some(format!("{row}{}", seat.number))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ShowStatus;

    fn seat(seat_id: i64, section_id: i64, row: &str, number: i32, x: i32, y: i32) -> SeatRow {
        SeatRow {
            seat_id,
            section_id,
            row_label: row.into(),
            number,
            x,
            y,
            accessible: number == 1,
        }
    }

    #[test]
    fn rows_are_runs_in_index_order() {
        let show = MapShow {
            show_id: 1,
            venue_id: 2,
            status: ShowStatus::Live,
            currency: "INR".into(),
        };
        let sections = vec![SectionRow {
            section_id: 10,
            name: "Gold".into(),
            colour: "#fff".into(),
            priority: 0,
            price_minor: 45000,
        }];
        // Row B has an aisle after B2: B4 sits at x 4, not 3.
        let seats = vec![
            seat(100, 10, "A", 1, 0, 0),
            seat(101, 10, "A", 2, 1, 0),
            seat(102, 10, "B", 1, 0, 1),
            seat(103, 10, "B", 2, 1, 1),
            seat(104, 10, "B", 4, 3, 1),
        ];
        let map = SeatMap::build(&show, sections, seats);
        let layout: serde_json::Value = serde_json::from_slice(&map.layout_json).expect("json");
        assert_eq!(layout["seat_count"], 5);
        assert_eq!(layout["rows"][0]["runs"], serde_json::json!([[1, 0, 2]]));
        assert_eq!(
            layout["rows"][1]["runs"],
            serde_json::json!([[1, 0, 2], [4, 3, 1]])
        );
        assert_eq!(layout["rows"][1]["accessible"], serde_json::json!([1]));
        assert_eq!(layout["sections"][0]["price"], 450);
        assert_eq!(map.index_of_label("B4"), Some(4));
        assert_eq!(map.index_of_seat_id(102), Some(2));
        assert_eq!(map.label(3).as_deref(), Some("B2"));
    }
}
