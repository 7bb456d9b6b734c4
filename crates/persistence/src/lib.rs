//! Storage: SeaORM entities, the connection pool, and repositories that turn
//! rows into domain types.
//!
//! Everything SeaORM-specific stays here. Callers get domain types back and
//! [`Error`] values that say what went wrong in storage terms (`NotFound`,
//! `Conflict { field }`), never a raw `DbErr` to pattern-match on. This crate
//! must not know about HTTP, services or configuration loading.
//!
//! Repositories take any [`Connection`], so the same code runs on the pool or
//! inside a transaction opened with [`Db::begin`].

mod db;
pub mod entities;
mod error;
pub mod repositories;

pub use db::{Db, DbOptions, Tx};
pub use error::{Error, Result};
pub use repositories::{
    refresh_token::{NewRefreshToken, RefreshTokenRecord, RefreshTokenRepository},
    user::UserRepository,
};
/// A pool connection or a transaction; every repository method takes one.
pub use sea_orm::ConnectionTrait as Connection;
