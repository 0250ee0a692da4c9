//! Multi-step flows many tests start from: a venue, an event and a live show; a buyer signed
//! up and in; seats held then booked.

use serde_json::{json, Value};

use super::client::{Api, Resp, User};

/// Everything `live_show` made.
pub struct Fixture {
    pub owner: User,
    pub organiser: User,
    pub venue: i64,
    pub event: i64,
    pub show: i64,
}

impl Api {
    /// Onboards `small_venue_body()` (or `body`) and returns its id.
    pub async fn venue(&self, owner: &User, body: Value) -> i64 {
        self.post("/api/v1/venues", Some(&owner.token), body)
            .await
            .expect(201)["venue_id"]
            .as_i64()
            .expect("venue_id")
    }

    pub async fn event(&self, organiser: &User, title: &str, category: &str) -> i64 {
        self.post(
            "/api/v1/events",
            Some(&organiser.token),
            json!({ "title": title, "category": category, "description": "A test event",
                    "tags": ["test"], "artists": ["Someone"] }),
        )
        .await
        .expect(201)["event_id"]
            .as_i64()
            .expect("event_id")
    }

    /// Creates a draft show of `event` at `venue` (sections Gold and Silver) in `days` days.
    pub async fn show(&self, organiser: &User, event: i64, venue: i64, days: i64) -> i64 {
        self.post(
            &format!("/api/v1/events/{event}/shows"),
            Some(&organiser.token),
            show_body(venue, days),
        )
        .await
        .expect(201)["show_id"]
            .as_i64()
            .expect("show_id")
    }

    pub async fn launch(&self, organiser: &User, show: i64) -> Value {
        self.post(
            &format!("/api/v1/shows/{show}/launch"),
            Some(&organiser.token),
            json!({}),
        )
        .await
        .expect(200)
    }

    /// A venue owner, an organiser, a venue (`small_venue_body`), an event and a live show.
    pub async fn live_show(&self) -> Fixture {
        let owner = self.venue_owner().await;
        let organiser = self.organiser().await;
        let venue = self
            .venue(&owner, small_venue_body("Test Hall", "Bangalore"))
            .await;
        let event = self.event(&organiser, "Test Movie", "movie").await;
        let show = self.show(&organiser, event, venue, 3).await;
        self.launch(&organiser, show).await;
        Fixture {
            owner,
            organiser,
            venue,
            event,
            show,
        }
    }

    /// A buyer: a user without roles, signed up through the public API and signed in.
    pub async fn buyer(&self) -> User {
        self.visitor().await
    }

    /// Holds `seats` of `show` for `user` (the raw answer: 202 or an error).
    pub async fn reserve(&self, user: &User, show: i64, seats: &[&str]) -> Resp {
        self.post(
            "/api/v1/book/reserve",
            Some(&user.token),
            json!({ "show_id": show, "seat_ids": seats }),
        )
        .await
    }

    /// The seats of `show` the bearer of `token` holds, as their page reloads them
    /// (`GET …/holds/mine`, the raw answer).
    pub async fn holds_mine(&self, token: &str, show: i64) -> Resp {
        self.get(&format!("/api/v1/shows/{show}/holds/mine"), Some(token))
            .await
    }

    /// Books `seats` of `show` for `user` under the idempotency `key` (the raw answer).
    pub async fn book(&self, user: &User, show: i64, seats: &[&str], key: &str) -> Resp {
        self.post_idempotent(
            "/api/v1/book",
            Some(&user.token),
            key,
            json!({ "show_id": show, "seat_ids": seats }),
        )
        .await
    }

    /// Holds then books `seats` of `show` for `user`: asserts the 202 and the 201 and returns
    /// the booking.
    pub async fn hold_then_book(&self, user: &User, show: i64, seats: &[&str], key: &str) -> Value {
        self.reserve(user, show, seats).await.expect(202);
        self.book(user, show, seats, key).await.expect(201)
    }
}

/// A 30-seat venue: Gold (rows A, B of 5; B has an aisle after 2 and A1 is accessible) and
/// Silver (row C of 20).
pub fn small_venue_body(name: &str, city: &str) -> Value {
    json!({
        "name": name,
        "city": city,
        "address": "1 MG Road",
        "timezone": "Asia/Kolkata",
        "sections": [
            { "name": "Gold", "priority": 0, "rows": [
                { "label": "A", "count": 5, "accessible": [1] },
                { "label": "B", "count": 5, "skip": [3] }
            ]},
            { "name": "Silver", "priority": 1, "rows": [ { "label": "C", "count": 20 } ] }
        ]
    })
}

/// A show body for `small_venue_body` venues, `days` days from now at 18:30 IST.
pub fn show_body(venue: i64, days: i64) -> Value {
    let date = (chrono::Utc::now() + chrono::Duration::days(days)).date_naive();
    json!({
        "venue_id": venue,
        "start_time": format!("{date}T18:30:00+05:30"),
        "end_time": format!("{date}T21:00:00+05:30"),
        "currency": "INR",
        "prices": [ { "section": "Gold", "price": 450 }, { "section": "Silver", "price": 249.5 } ]
    })
}
