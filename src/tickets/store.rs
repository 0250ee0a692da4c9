//! Queries on tickets: their signed codes and check-in.

use chrono::{DateTime, Utc};

use crate::domain::TicketStatus;
use crate::store::{push_id_list, Db};
use crate::with_db;

/// The live tickets of the bookings `booking_ids` that have no code yet: (booking id, ticket id,
/// show id, seat label).
pub async fn tickets_without_code(
    db: &Db,
    booking_ids: &[i64],
) -> Result<Vec<(i64, i64, i64, String)>, sqlx::Error> {
    if booking_ids.is_empty() {
        return Ok(Vec::new());
    }
    with_db!(db, |pool| {
        let mut qb = sqlx::QueryBuilder::new(
            "SELECT t.booking_id, t.ticket_id, t.show_id, s.label FROM tickets t JOIN seats s ON s.seat_id = t.seat_id
             WHERE t.code IS NULL AND t.status = 'valid' AND t.booking_id IN ",
        );
        push_id_list(&mut qb, booking_ids);
        qb.push(" ORDER BY t.ticket_id");
        qb.build_query_as().fetch_all(pool).await
    })
}

/// Gives each ticket its code unless it has one already, in one commit (one statement on
/// PostgreSQL, however many bookings the tickets belong to); returns the rows written.
pub async fn set_codes(
    db: &Db,
    codes: &[(i64, String)],
    issued_at: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    if codes.is_empty() {
        return Ok(0);
    }
    match db {
        Db::Postgres { write, .. } => {
            let (ids, texts): (Vec<i64>, Vec<&str>) =
                codes.iter().map(|(id, code)| (*id, code.as_str())).unzip();
            Ok(sqlx::query(
                "UPDATE tickets t SET code = u.code, issued_at = $3
                   FROM unnest($1::bigint[], $2::text[]) AS u(ticket_id, code)
                  WHERE t.ticket_id = u.ticket_id AND t.code IS NULL",
            )
            .bind(&ids)
            .bind(&texts)
            .bind(issued_at)
            .execute(write)
            .await?
            .rows_affected())
        }
        Db::Sqlite { write, .. } => {
            let mut tx = write.begin().await?;
            let mut written = 0;
            for (ticket_id, code) in codes {
                written += sqlx::query(
                    "UPDATE tickets SET code = $2, issued_at = $3 WHERE ticket_id = $1 AND code IS NULL",
                )
                .bind(ticket_id)
                .bind(code)
                .bind(issued_at)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            }
            tx.commit().await?;
            Ok(written)
        }
    }
}

/// A ticket with its booking's owner.
#[derive(Debug, sqlx::FromRow)]
pub struct OwnedTicket {
    pub user_id: i64,
    pub booking_id: i64,
    pub code: Option<String>,
    pub status: TicketStatus,
}

/// A ticket and who bought it.
pub async fn owned_ticket(db: &Db, ticket_id: i64) -> Result<Option<OwnedTicket>, sqlx::Error> {
    with_db!(db, |pool| {
        sqlx::query_as(
            "SELECT b.user_id, b.booking_id, t.code, t.status FROM tickets t
             JOIN bookings b ON b.booking_id = t.booking_id WHERE t.ticket_id = $1",
        )
        .bind(ticket_id)
        .fetch_optional(pool)
        .await
    })
}

/// The code of an existing ticket (`None` until issued).
pub async fn ticket_code(db: &Db, ticket_id: i64) -> Result<Option<String>, sqlx::Error> {
    with_db!(db, |pool| {
        sqlx::query_scalar("SELECT code FROM tickets WHERE ticket_id = $1")
            .bind(ticket_id)
            .fetch_one(pool)
            .await
    })
}

/// A ticket as a gate sees it: its state, who may check it in, its seat.
#[derive(Debug, sqlx::FromRow)]
pub struct GateTicket {
    pub ticket_id: i64,
    pub status: TicketStatus,
    pub code: Option<String>,
    pub checked_in_at: Option<DateTime<Utc>>,
    pub organiser_id: i64,
    pub owner_id: i64,
    pub label: String,
    pub section: String,
}

/// The ticket a code's claim names, if its ticket, show and booking ids match.
pub async fn gate_ticket(
    db: &Db,
    ticket_id: i64,
    show_id: i64,
    booking_id: i64,
) -> Result<Option<GateTicket>, sqlx::Error> {
    with_db!(db, |pool| {
        sqlx::query_as(
            "SELECT t.ticket_id, t.status, t.code, t.checked_in_at, e.organiser_id, v.owner_id,
                    st.label, sec.name AS section
             FROM tickets t JOIN shows s ON s.show_id = t.show_id
             JOIN events e ON e.event_id = s.event_id JOIN venues v ON v.venue_id = s.venue_id
             JOIN seats st ON st.seat_id = t.seat_id JOIN sections sec ON sec.section_id = st.section_id
             WHERE t.ticket_id = $1 AND t.show_id = $2 AND t.booking_id = $3",
        )
        .bind(ticket_id)
        .bind(show_id)
        .bind(booking_id)
        .fetch_optional(pool)
        .await
    })
}

/// Checks a valid, not yet scanned ticket in at `now`; `true` if this call did. The conditional
/// update is the arbiter between two gates scanning at the same instant.
pub async fn check_in(db: &Db, ticket_id: i64, now: DateTime<Utc>) -> Result<bool, sqlx::Error> {
    with_db!(db, |pool| {
        Ok(sqlx::query(
            "UPDATE tickets SET checked_in_at = $2
             WHERE ticket_id = $1 AND status = 'valid' AND checked_in_at IS NULL",
        )
        .bind(ticket_id)
        .bind(now)
        .execute(pool)
        .await?
        .rows_affected()
            == 1)
    })
}

/// A ticket's status and check-in time.
pub async fn ticket_state(
    db: &Db,
    ticket_id: i64,
) -> Result<Option<(TicketStatus, Option<DateTime<Utc>>)>, sqlx::Error> {
    with_db!(db, |pool| {
        sqlx::query_as("SELECT status, checked_in_at FROM tickets WHERE ticket_id = $1")
            .bind(ticket_id)
            .fetch_optional(pool)
            .await
    })
}
