//! boxoffice: a ticket booking platform for movies and concerts.
//!
//! Venue owners onboard seat layouts, organisers launch shows with section prices, visitors
//! browse, pick seats and book. The database is the arbiter of every sale.
//!
//! # Layout
//! - [`config`]: every setting (flag, env var, default); secrets redacted.
//! - [`app`]: the state every handler and worker gets.
//! - [`router`]: every route behind the gateway layers; health and readiness.
//! - [`server`]: testable start-up, the background workers, graceful shutdown.
//! - [`error`]: one error type, the seed's JSON shape.
//! - [`http`]: gateway concerns (auth extractors, JSON rejections, cache headers).
//! - [`store`]: the PostgreSQL / SQLite storage layer and migrations.
//! - [`auth`], [`venues`], [`catalog`]: the capabilities (SPEC §4, §5).
//! - [`availability`]: live seat availability from memory: layout, packed snapshot, stream.
//! - [`holds`], [`inventory`], [`booking`], [`payments`]: seat holds and booking (SPEC §6, §7).
//! - [`events`], [`tickets`], [`notify`]: after a booking: the outbox (rows written in the same
//!   transaction as the change) and its relay (NATS JetStream or
//!   in-process), signed QR tickets and check-in, emails (SPEC §8).
//! - [`search`]: the tantivy search index, fed from the outbox (SPEC §9).
//! - [`workers`]: the one loop every background worker runs in, with shutdown.
//! - [`faults`]: failure injection for the crash tests.
//! - [`domain`]: the statuses of shows, seats, bookings, tickets and payments, as types.
//! - [`money`]: exact money in minor units.
//! - [`demo`]: demo data.

pub mod app;
pub mod auth;
pub mod availability;
pub mod bench;
pub mod booking;
pub mod catalog;
pub mod config;
pub mod demo;
pub mod domain;
pub mod error;
pub mod events;
pub mod faults;
pub mod holds;
pub mod http;
pub mod inventory;
pub mod limits;
pub mod money;
pub mod notify;
pub mod payments;
pub mod queue;
pub mod router;
pub mod search;
pub mod server;
pub mod store;
pub mod tickets;
pub mod venues;
pub mod web;
pub mod workers;
