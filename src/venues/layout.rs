//! Turning a venue owner's description of sections and rows into seats with labels and map
//! positions. Pure and deterministic, so it is property-tested and reused for map previews.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

pub const MAX_SECTIONS: usize = 64;
pub const MAX_ROWS_PER_SECTION: usize = 300;
pub const MAX_SEATS_PER_ROW: u32 = 1_000;
/// The default cap on seats per venue (`--max-seats-per-venue`): above the largest stadium we
/// seed (40,000), and what bounds the work and the answer one small layout body can ask for.
pub const MAX_SEATS_PER_VENUE: usize = 60_000;

/// Default section colours, in order, when the owner gives none: light enough that a free seat
/// stands out against the dark map and the dark "sold" square (≥ 5:1), and far apart from
/// each other (CIELAB ΔE ≥ 30 between any two).
const PALETTE: &[&str] = &[
    "#c084fc", "#60a5fa", "#34d399", "#fbbf24", "#f472b6", "#fb923c", "#22d3ee", "#a3e635",
];

/// A section as the venue owner describes it.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SectionSpec {
    /// Unique in the venue (ignoring case).
    #[schema(min_length = 1, max_length = 60, pattern = "\\S")]
    pub name: String,
    /// Lower is better (closer to the stage).
    #[schema(minimum = 0, maximum = 1000)]
    pub priority: i32,
    #[serde(default)]
    #[schema(pattern = "^#[0-9a-fA-F]{6}$")]
    pub colour: Option<String>,
    #[schema(min_items = 1, max_items = 300)]
    pub rows: Vec<RowSpec>,
}

/// A row: `count` seats numbered upward from `start`, skipping the numbers in `skip` (an aisle).
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RowSpec {
    /// 1 to 6 letters or digits.
    #[schema(pattern = "^\\s*[A-Za-z0-9]{1,6}\\s*$")]
    pub label: String,
    #[schema(minimum = 1, maximum = 1000)]
    pub count: u32,
    #[serde(default)]
    #[schema(maximum = 10000)]
    pub start: Option<u32>,
    /// Seat numbers left out (an aisle), each at least `start`.
    #[serde(default)]
    #[schema(schema_with = crate::http::openapi::seat_numbers)]
    pub skip: Vec<u32>,
    /// Seat numbers of the row that are accessible.
    #[serde(default)]
    #[schema(schema_with = crate::http::openapi::seat_numbers)]
    pub accessible: Vec<u32>,
    /// Map position of the row's first seat; rows are laid out automatically without it.
    #[serde(default)]
    pub x: Option<i32>,
    #[serde(default)]
    pub y: Option<i32>,
}

/// A section ready to store.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PlannedSection {
    pub name: String,
    pub priority: i32,
    pub colour: String,
}

/// A seat ready to store.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PlannedSeat {
    #[serde(skip)]
    pub section_index: usize,
    #[serde(rename = "seat_id")]
    pub label: String,
    #[serde(rename = "row")]
    pub row_label: String,
    pub number: i32,
    pub x: i32,
    pub y: i32,
    pub accessible: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    pub sections: Vec<PlannedSection>,
    pub seats: Vec<PlannedSeat>,
}

/// Why a layout was refused, naming the offending field (`sections[1].rows[0].skip`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayoutError {
    pub field: String,
    pub message: String,
}

fn err(field: impl Into<String>, message: impl Into<String>) -> LayoutError {
    LayoutError {
        field: field.into(),
        message: message.into(),
    }
}

fn is_colour(s: &str) -> bool {
    s.len() == 7 && s.starts_with('#') && s[1..].chars().all(|c| c.is_ascii_hexdigit())
}

/// The seat numbers a row uses, in order.
pub fn row_numbers(row: &RowSpec) -> Vec<u32> {
    let start = row.start.unwrap_or(1);
    let skip: HashSet<u32> = row.skip.iter().copied().collect();
    (start..)
        .filter(|n| !skip.contains(n))
        .take(row.count as usize)
        .collect()
}

/// Plans every seat of a venue (at most `max_seats`), or says which field is wrong.
pub fn plan_layout(sections: &[SectionSpec], max_seats: usize) -> Result<Layout, LayoutError> {
    if sections.is_empty() {
        return Err(err("sections", "a venue needs at least one section"));
    }
    if sections.len() > MAX_SECTIONS {
        return Err(err("sections", format!("at most {MAX_SECTIONS} sections")));
    }
    let mut names = HashSet::new();
    let mut labels = HashSet::new();
    let mut planned_sections = Vec::with_capacity(sections.len());
    let mut rows_numbers = Vec::new();
    let mut total = 0usize;

    for (si, section) in sections.iter().enumerate() {
        let f = format!("sections[{si}]");
        let name = section.name.trim();
        if name.is_empty() || name.chars().count() > 60 {
            return Err(err(
                format!("{f}.name"),
                "section name must have 1 to 60 characters",
            ));
        }
        if !names.insert(name.to_lowercase()) {
            return Err(err(
                format!("{f}.name"),
                format!("section `{name}` appears twice"),
            ));
        }
        if !(0..=1000).contains(&section.priority) {
            return Err(err(
                format!("{f}.priority"),
                "priority must be between 0 and 1000",
            ));
        }
        let colour = match &section.colour {
            Some(c) if is_colour(c) => c.to_lowercase(),
            Some(_) => return Err(err(format!("{f}.colour"), "colour must look like #1a2b3c")),
            None => PALETTE[si % PALETTE.len()].to_owned(),
        };
        if section.rows.is_empty() {
            return Err(err(format!("{f}.rows"), "a section needs at least one row"));
        }
        if section.rows.len() > MAX_ROWS_PER_SECTION {
            return Err(err(
                format!("{f}.rows"),
                format!("at most {MAX_ROWS_PER_SECTION} rows per section"),
            ));
        }
        for (ri, row) in section.rows.iter().enumerate() {
            let f = format!("{f}.rows[{ri}]");
            let label = row.label.trim();
            if label.is_empty()
                || label.len() > 6
                || !label.chars().all(|c| c.is_ascii_alphanumeric())
            {
                return Err(err(
                    format!("{f}.label"),
                    "row label must be 1 to 6 letters or digits",
                ));
            }
            if row.count == 0 || row.count > MAX_SEATS_PER_ROW {
                return Err(err(
                    format!("{f}.count"),
                    format!("count must be between 1 and {MAX_SEATS_PER_ROW}"),
                ));
            }
            let start = row.start.unwrap_or(1);
            if start > 10_000 {
                return Err(err(format!("{f}.start"), "start must be at most 10000"));
            }
            let mut seen = HashSet::new();
            for (ki, n) in row.skip.iter().enumerate() {
                if *n < start || !seen.insert(*n) {
                    return Err(err(
                        format!("{f}.skip[{ki}]"),
                        format!("skipped number {n} must be unique and not below start {start}"),
                    ));
                }
            }
            total += row.count as usize;
            if total > max_seats {
                return Err(err(
                    "sections",
                    format!("a venue has at most {max_seats} seats"),
                ));
            }
            let numbers = row_numbers(row);
            let used: HashSet<u32> = numbers.iter().copied().collect();
            for (ai, n) in row.accessible.iter().enumerate() {
                if !used.contains(n) {
                    return Err(err(
                        format!("{f}.accessible[{ai}]"),
                        format!("row {label} has no seat {n}"),
                    ));
                }
            }
            for n in &numbers {
                let seat_label = format!("{label}{n}");
                if !labels.insert(seat_label.clone()) {
                    return Err(err(
                        format!("{f}.label"),
                        format!("seat label {seat_label} would appear twice in the venue"),
                    ));
                }
            }
            rows_numbers.push((si, ri, numbers));
        }
        planned_sections.push(PlannedSection {
            name: name.to_owned(),
            priority: section.priority,
            colour,
        });
    }

    // Automatic map: rows stacked top to bottom in the order given, a blank line between
    // sections, each row centred on the widest row; a skipped number leaves a gap.
    let width = |numbers: &[u32], start: u32| -> i32 {
        numbers
            .last()
            .map(|last| (last - start + 1) as i32)
            .unwrap_or(0)
    };
    let max_width = rows_numbers
        .iter()
        .map(|(si, ri, nums)| width(nums, sections[*si].rows[*ri].start.unwrap_or(1)))
        .max()
        .unwrap_or(0);
    let mut seats = Vec::with_capacity(total);
    let mut y = 0i32;
    let mut last_section = None;
    for (si, ri, numbers) in &rows_numbers {
        let row = &sections[*si].rows[*ri];
        if last_section.is_some_and(|s| s != *si) {
            y += 1;
        }
        last_section = Some(*si);
        let start = row.start.unwrap_or(1);
        let origin_x = row.x.unwrap_or((max_width - width(numbers, start)) / 2);
        let origin_y = row.y.unwrap_or(y);
        let accessible: HashSet<u32> = row.accessible.iter().copied().collect();
        let label = row.label.trim();
        for n in numbers {
            seats.push(PlannedSeat {
                section_index: *si,
                label: format!("{label}{n}"),
                row_label: label.to_owned(),
                number: *n as i32,
                x: origin_x + (n - start) as i32,
                y: origin_y,
                accessible: accessible.contains(n),
            });
        }
        y += 1;
    }
    Ok(Layout {
        sections: planned_sections,
        seats,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan_layout_default(sections: &[SectionSpec]) -> Result<Layout, LayoutError> {
        plan_layout(sections, MAX_SEATS_PER_VENUE)
    }
    use proptest::prelude::*;

    fn row(label: &str, count: u32) -> RowSpec {
        RowSpec {
            label: label.into(),
            count,
            start: None,
            skip: vec![],
            accessible: vec![],
            x: None,
            y: None,
        }
    }

    fn section(name: &str, rows: Vec<RowSpec>) -> SectionSpec {
        SectionSpec {
            name: name.into(),
            priority: 1,
            colour: None,
            rows,
        }
    }

    #[test]
    fn a_skipped_number_is_an_aisle() {
        let mut b = row("B", 12);
        b.skip = vec![7];
        let layout = plan_layout_default(&[section("Prime", vec![b])]).expect("valid");
        let labels: Vec<&str> = layout.seats.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(
            labels,
            ["B1", "B2", "B3", "B4", "B5", "B6", "B8", "B9", "B10", "B11", "B12", "B13"]
        );
        let b6 = &layout.seats[5];
        let b8 = &layout.seats[6];
        assert_eq!(b8.x - b6.x, 2, "the aisle leaves a gap on the map");
    }

    #[test]
    fn accessible_seats_and_start_are_honoured() {
        let mut a = row("A", 4);
        a.start = Some(101);
        a.accessible = vec![101, 104];
        let layout = plan_layout_default(&[section("Box", vec![a])]).expect("valid");
        let acc: Vec<&str> = layout
            .seats
            .iter()
            .filter(|s| s.accessible)
            .map(|s| s.label.as_str())
            .collect();
        assert_eq!(acc, ["A101", "A104"]);
    }

    #[test]
    fn bad_layouts_name_the_field() {
        let e = plan_layout_default(&[]).expect_err("empty");
        assert_eq!(e.field, "sections");
        let e = plan_layout_default(&[section("X", vec![row("A", 0)])]).expect_err("zero");
        assert_eq!(e.field, "sections[0].rows[0].count");
        let e = plan_layout_default(&[
            section("X", vec![row("A", 3)]),
            section("Y", vec![row("A", 3)]),
        ])
        .expect_err("duplicate labels");
        assert_eq!(e.field, "sections[1].rows[0].label");
        let e = plan_layout_default(&[
            section("X", vec![row("A", 1)]),
            section("x", vec![row("B", 1)]),
        ])
        .expect_err("duplicate section");
        assert_eq!(e.field, "sections[1].name");
        let mut a = row("A", 3);
        a.accessible = vec![9];
        let e = plan_layout_default(&[section("X", vec![a])]).expect_err("no seat 9");
        assert_eq!(e.field, "sections[0].rows[0].accessible[0]");
        let e = plan_layout_default(&[section("X", vec![row("A-1", 3)])]).expect_err("label");
        assert_eq!(e.field, "sections[0].rows[0].label");
    }

    fn arb_row() -> impl Strategy<Value = (u32, u32, Vec<u32>)> {
        (1u32..40, 0u32..5, proptest::collection::vec(0u32..60, 0..6))
    }

    proptest! {
        /// Every valid layout yields exactly `sum(count)` seats with unique labels and unique
        /// positions, none of them a skipped number.
        #[test]
        fn planned_seats_are_complete_unique_and_skip_aisles(rows in proptest::collection::vec(arb_row(), 1..8)) {
            let specs: Vec<RowSpec> = rows.iter().enumerate().map(|(i, (count, start, skip))| {
                let mut skip: Vec<u32> = skip.iter().map(|s| s + start).collect();
                skip.sort();
                skip.dedup();
                RowSpec { label: format!("R{i}"), count: *count, start: Some(*start), skip, accessible: vec![], x: None, y: None }
            }).collect();
            let layout = plan_layout_default(&[section("S", specs.clone())]).expect("valid");
            let expected: u32 = specs.iter().map(|r| r.count).sum();
            prop_assert_eq!(layout.seats.len(), expected as usize);
            let labels: HashSet<&str> = layout.seats.iter().map(|s| s.label.as_str()).collect();
            prop_assert_eq!(labels.len(), layout.seats.len());
            let positions: HashSet<(i32, i32)> = layout.seats.iter().map(|s| (s.x, s.y)).collect();
            prop_assert_eq!(positions.len(), layout.seats.len());
            for seat in &layout.seats {
                let idx: usize = seat.row_label[1..].parse().expect("row index");
                prop_assert!(!specs[idx].skip.contains(&(seat.number as u32)));
                prop_assert!(seat.number as u32 >= specs[idx].start.unwrap_or(1));
            }
        }

        #[test]
        fn planning_never_panics(count in 0u32..2000, start in 0u32..20000, skip in proptest::collection::vec(0u32..30000, 0..5), label in "\\PC{0,8}") {
            let r = RowSpec { label, count, start: Some(start), skip, accessible: vec![], x: None, y: None };
            let _ = plan_layout_default(&[section("S", vec![r])]);
        }
    }
}
