//! End-to-end tests: the real app over HTTP, one fresh database per test.

#![allow(clippy::unwrap_used)]

mod accounts;
mod auth;
mod cache;
mod docs_and_errors;
mod hardening;
mod health;
mod lifecycle;
mod security;
mod sessions;
mod tasks;
mod users;
