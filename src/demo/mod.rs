//! Demo data: three cities, a 200-seat multiplex screen, a 2,000-seat auditorium and a
//! 40,000-seat stadium, movies and concerts (the seed's two examples among them) with live shows
//! over the coming days, and one account per role.

use anyhow::Context;
use chrono::{Duration, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::app::AppState;
use crate::auth::{store as users, Email, Role};
use crate::catalog::store::{insert_show, launch_inventory, NewShow};
use crate::money::Currency;
use crate::venues::layout::{plan_layout, RowSpec, SectionSpec};
use crate::venues::store::{insert_venue, sections_of, NewVenue};
use crate::with_db;

/// A demo account: email, password, name, roles.
pub const ACCOUNTS: &[(&str, &str, &str, &[Role])] = &[
    (
        "visitor@demo.boxoffice.test",
        "visitor-demo-pass",
        "Asha Visitor",
        &[],
    ),
    (
        "organiser@demo.boxoffice.test",
        "organiser-demo-pass",
        "Ravi Organiser",
        &[Role::Organiser],
    ),
    (
        "venues@demo.boxoffice.test",
        "venue-owner-demo-pass",
        "Meera Venue Owner",
        &[Role::VenueOwner],
    ),
];

/// Loads the demo data if the database has no users yet (first start of the embedded default).
pub async fn seed_if_empty(state: &AppState) -> anyhow::Result<bool> {
    let users: i64 = with_db!(&state.db, |pool| {
        sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(pool)
            .await?
    });
    if users > 0 {
        return Ok(false);
    }
    seed(state).await?;
    Ok(true)
}

/// Whether the demo accounts exist in `db` (loaded now or on an earlier start).
pub async fn present(db: &crate::store::Db) -> anyhow::Result<bool> {
    let first = Email::parse(ACCOUNTS[0].0).map_err(anyhow::Error::msg)?;
    Ok(users::credentials(db, &first.normalised).await?.is_some())
}

/// Loads the demo data unless it is already there (`boxoffice seed --demo`).
pub async fn seed(state: &AppState) -> anyhow::Result<()> {
    if present(&state.db).await? {
        tracing::info!("demo data already present");
        return Ok(());
    }
    let mut ids = Vec::new();
    for (email, password, name, roles) in ACCOUNTS {
        let email = Email::parse(email).map_err(anyhow::Error::msg)?;
        let hash = state.passwords.hash((*password).to_owned()).await?;
        let user = users::create_user(&state.db, &email, name, &hash, roles)
            .await?
            .context("demo account exists already")?;
        ids.push(user.user_id);
    }
    let (organiser, owner) = (ids[1], ids[2]);

    let multiplex = multiplex_screen();
    let auditorium = auditorium();
    let stadium = stadium();
    let venues = [
        (
            "PVR: Phoenix Marketcity",
            "Bangalore",
            "Whitefield Main Road, Mahadevapura, Bengaluru 560048",
            &multiplex,
        ),
        (
            "INOX: Orion Mall",
            "Bangalore",
            "Dr Rajkumar Road, Rajajinagar, Bengaluru 560055",
            &auditorium,
        ),
        (
            "PVR: Icon Infiniti Mall",
            "Mumbai",
            "New Link Road, Andheri West, Mumbai 400053",
            &multiplex,
        ),
        (
            "NSCI Dome",
            "Mumbai",
            "Lala Lajpatrai Marg, Worli, Mumbai 400018",
            &auditorium,
        ),
        (
            "Jawaharlal Nehru Stadium",
            "Delhi",
            "Lodhi Road, Pragati Vihar, New Delhi 110003",
            &stadium,
        ),
    ];
    let mut venue_ids = Vec::new();
    for (name, city, address, sections) in venues {
        let layout = plan_layout(sections, crate::venues::layout::MAX_SEATS_PER_VENUE)
            .map_err(|e| anyhow::anyhow!("demo layout: {e:?}"))?;
        let id = insert_venue(
            &state.db,
            &NewVenue {
                owner_id: owner,
                name,
                city,
                address,
                timezone: "Asia/Kolkata",
            },
            &layout,
        )
        .await?;
        venue_ids.push(id);
    }

    struct DemoEvent {
        title: &'static str,
        category: &'static str,
        description: &'static str,
        language: &'static str,
        minutes: i64,
        tags: &'static [&'static str],
        artists: &'static [&'static str],
        /// (venue index, days from today, local time, prices per section in rupees)
        shows: &'static [(usize, i64, &'static str, &'static [i64])],
    }
    // Prices are listed in the order of the venue's sections by priority (best first).
    const MULTIPLEX: &[i64] = &[650, 350, 250];
    let events = [
        DemoEvent {
            title: "Pushpa 2: The Rule",
            category: "movie",
            description: "Pushpa Raj returns: the red-sandalwood smuggler faces his fiercest rival yet in the sequel to Pushpa: The Rise.",
            language: "Telugu",
            minutes: 200,
            tags: &["action", "drama", "thriller"],
            artists: &["Allu Arjun", "Rashmika Mandanna", "Fahadh Faasil"],
            shows: &[(0, 1, "18:30", MULTIPLEX), (0, 1, "22:00", MULTIPLEX), (0, 2, "18:30", MULTIPLEX), (2, 2, "19:00", MULTIPLEX)],
        },
        DemoEvent {
            title: "Arijit Singh Live",
            category: "concert",
            description: "An evening of romantic ballads and soulful hits, live with a full band.",
            language: "Hindi",
            minutes: 150,
            tags: &["bollywood", "live music", "romantic"],
            artists: &["Arijit Singh"],
            shows: &[(1, 3, "19:30", &[4500, 2000, 450])],
        },
        DemoEvent {
            title: "Stree 2: Sarkate Ka Aatank",
            category: "movie",
            description: "Chanderi is haunted again in this horror comedy, as a headless terror stalks the town.",
            language: "Hindi",
            minutes: 147,
            tags: &["horror", "comedy"],
            artists: &["Shraddha Kapoor", "Rajkummar Rao", "Pankaj Tripathi"],
            shows: &[(2, 1, "16:00", MULTIPLEX), (2, 1, "21:15", MULTIPLEX), (0, 3, "15:00", MULTIPLEX)],
        },
        DemoEvent {
            title: "A. R. Rahman: Wonderment Tour",
            category: "concert",
            description: "The Mozart of Madras performs three decades of film music with a symphony orchestra.",
            language: "Tamil",
            minutes: 180,
            tags: &["film music", "orchestra", "live music"],
            artists: &["A. R. Rahman"],
            shows: &[(3, 5, "19:00", &[6000, 3000, 999])],
        },
        DemoEvent {
            title: "Diljit Dosanjh: Dil-Luminati Tour",
            category: "concert",
            description: "Punjabi pop's biggest stadium show, with the full Dil-Luminati production.",
            language: "Punjabi",
            minutes: 180,
            tags: &["punjabi", "pop", "stadium"],
            artists: &["Diljit Dosanjh"],
            shows: &[(4, 10, "19:00", &[15000, 8000, 8000, 2500, 2500])],
        },
        DemoEvent {
            title: "Interstellar (IMAX re-release)",
            category: "movie",
            description: "A team of explorers travels through a wormhole in search of a new home for humanity.",
            language: "English",
            minutes: 169,
            tags: &["sci-fi", "drama", "re-release"],
            artists: &["Matthew McConaughey", "Anne Hathaway", "Jessica Chastain"],
            shows: &[(2, 4, "20:00", &[800, 420, 300])],
        },
    ];

    let tz: Tz = chrono_tz::Asia::Kolkata;
    let today = Utc::now().with_timezone(&tz).date_naive();
    let inr = Currency::parse("INR").context("INR")?;
    let mut shows = 0;
    for event in &events {
        let now = Utc::now();
        let tags: Vec<String> = event.tags.iter().map(|s| (*s).to_owned()).collect();
        let artists: Vec<String> = event.artists.iter().map(|s| (*s).to_owned()).collect();
        let event_id: i64 = with_db!(&state.db, |pool| {
            sqlx::query_scalar(
                "INSERT INTO events (organiser_id, title, category, description, language,
                                     duration_minutes, tags, artists, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING event_id",
            )
            .bind(organiser)
            .bind(event.title)
            .bind(event.category)
            .bind(event.description)
            .bind(event.language)
            .bind(event.minutes as i32)
            .bind(sqlx::types::Json(&tags))
            .bind(sqlx::types::Json(&artists))
            .bind(now)
            .fetch_one(pool)
            .await?
        });
        for (venue_index, days, time, prices) in event.shows {
            let venue_id = venue_ids[*venue_index];
            let local = today + Duration::days(*days);
            let time = NaiveTime::parse_from_str(time, "%H:%M")?;
            let start = tz
                .from_local_datetime(&local.and_time(time))
                .single()
                .context("demo show time")?
                .with_timezone(&Utc);
            let sections = sections_of(&state.db, venue_id).await?;
            let prices = sections
                .iter()
                .zip(prices.iter())
                .map(|(s, rupees)| (s.section_id, rupees * 100))
                .collect();
            let show_id = insert_show(
                &state.db,
                &NewShow {
                    event_id,
                    venue_id,
                    start,
                    end: start + Duration::minutes(event.minutes + 20),
                    tz,
                    currency: inr,
                    hold_seconds: 600,
                    max_seats_per_user: 10,
                    queue_enabled: false,
                    queue_admit_per_minute: 100,
                    queue_opens_at: None,
                    queue_pass_minutes: 10,
                    prices,
                },
            )
            .await?;
            launch_inventory(&state.db, show_id, venue_id, event_id).await?;
            shows += 1;
        }
    }
    tracing::info!(
        venues = venue_ids.len(),
        events = events.len(),
        shows,
        "demo data loaded"
    );
    Ok(())
}

/// Row labels A, B, …, Z, AA, AB, … starting at the `skip`-th.
fn row_labels(skip: usize, n: usize) -> Vec<String> {
    (skip..skip + n)
        .map(|i| {
            if i < 26 {
                ((b'A' + i as u8) as char).to_string()
            } else {
                let (a, b) = (i / 26 - 1, i % 26);
                format!("{}{}", (b'A' + a as u8) as char, (b'A' + b as u8) as char)
            }
        })
        .collect()
}

fn rows(
    labels: Vec<String>,
    count: u32,
    skip: &[u32],
    accessible_first_row: &[u32],
) -> Vec<RowSpec> {
    labels
        .into_iter()
        .enumerate()
        .map(|(i, label)| RowSpec {
            label,
            count,
            start: None,
            skip: skip.to_vec(),
            accessible: if i == 0 {
                accessible_first_row.to_vec()
            } else {
                vec![]
            },
            x: None,
            y: None,
        })
        .collect()
}

fn section(name: &str, priority: i32, colour: &str, rows: Vec<RowSpec>) -> SectionSpec {
    SectionSpec {
        name: name.into(),
        priority,
        colour: Some(colour.into()),
        rows,
    }
}

/// 200 seats: Classic A–C and Prime D–J (18 seats with a centre aisle), Recliner K–L. Rows
/// are listed from the screen backwards (every map draws the stage or screen at its top edge),
/// so the best seats, the Recliners, come last, at the back.
pub fn multiplex_screen() -> Vec<SectionSpec> {
    vec![
        section(
            "Classic",
            2,
            "#34d399",
            rows(row_labels(0, 3), 18, &[10], &[]),
        ),
        section(
            "Prime",
            1,
            "#60a5fa",
            rows(row_labels(3, 7), 18, &[10], &[]),
        ),
        section(
            "Recliner",
            0,
            "#f59e0b",
            rows(row_labels(10, 2), 10, &[], &[1, 2]),
        ),
    ]
}

/// 2,000 seats: Platinum (5 rows), Gold (15 rows), Silver (30 rows), 40 seats with two aisles.
pub fn auditorium() -> Vec<SectionSpec> {
    vec![
        section(
            "Platinum",
            0,
            "#c084fc",
            rows(row_labels(0, 5), 40, &[11, 31], &[1, 2, 41, 42]),
        ),
        section(
            "Gold",
            1,
            "#facc15",
            rows(row_labels(5, 15), 40, &[11, 31], &[]),
        ),
        section(
            "Silver",
            2,
            "#22d3ee",
            rows(row_labels(20, 30), 40, &[11, 31], &[]),
        ),
    ]
}

/// 40,000 seats in five stands of 100-seat rows, each stand's rows prefixed with its code,
/// placed around the stage (at the top): the Fan Pit in front of it, the Platinum stands on
/// either side, the Gold stands behind those.
pub fn stadium() -> Vec<SectionSpec> {
    let stand = |prefix: &str, n: usize, x: i32, y: i32| -> Vec<RowSpec> {
        let mut rows = rows(
            row_labels(26, n)
                .into_iter()
                .map(|l| format!("{prefix}{l}"))
                .collect(),
            100,
            if prefix == "FP" { &[] } else { &[51] },
            if prefix == "FP" { &[] } else { &[1, 2] },
        );
        for (i, row) in rows.iter_mut().enumerate() {
            row.x = Some(x);
            row.y = Some(y + i as i32);
        }
        rows
    };
    vec![
        section("Fan Pit", 0, "#f472b6", stand("FP", 40, 112, 4)),
        section("Platinum East", 1, "#c084fc", stand("PE", 60, 222, 4)),
        section("Platinum West", 1, "#60a5fa", stand("PW", 60, 0, 4)),
        section("Gold North", 2, "#fbbf24", stand("GN", 120, 0, 68)),
        section("Gold South", 2, "#4ade80", stand("GS", 120, 222, 68)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_venues_have_the_promised_sizes() {
        let count = |s: Vec<SectionSpec>| {
            plan_layout(&s, crate::venues::layout::MAX_SEATS_PER_VENUE)
                .expect("valid layout")
                .seats
                .len()
        };
        assert_eq!(count(multiplex_screen()), 200);
        assert_eq!(count(auditorium()), 2_000);
        assert_eq!(count(stadium()), 40_000);
    }
}
