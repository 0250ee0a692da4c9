//! The black-box tests, as one binary (linking the crate once, not once per file): each module
//! is a capability, each test starts the real app on port 0 over its own SQLite directory or
//! PostgreSQL database cloned from a migrated template (`common`), and most run once per backend
//! (`both_backends!`).

#[macro_use]
mod common;

mod after_booking;
mod auth;
mod authz;
mod availability;
mod bad_input;
mod booking;
mod catalog;
mod catalog_cache;
mod cluster;
mod contract;
mod hardening;
mod launch_scale;
mod migrations;
mod openapi;
mod ops;
mod queue;
mod search;
mod web;
mod web_a11y;
mod web_browse;
mod web_manage;
mod web_seats;
