//! Storage: SeaORM entities, the connection pools, units of work,
//! repositories that turn rows into domain types, and bringing the schema
//! up to date ([`Db::migrate`], the `migration` crate's migrations).
//!
//! Everything SeaORM-specific stays here. Callers get domain types back and
//! [`Error`] values that say what went wrong in storage terms (`NotFound`,
//! `Conflict { entity, field }`), never a raw `DbErr` to pattern-match on.
//! Nothing above this crate re-exports its types or SeaORM's (a test
//! checks), so `web` cannot reach the database. Access
//! rules of the domain are compiled into SQL here ([`acl`]), so list queries
//! filter in the database. This crate must not know about HTTP, services or
//! configuration loading.
//!
//! Repositories take any [`Connection`], so the same code runs on the pool,
//! the read replica, or inside a transaction ([`UnitOfWork`]).

pub mod acl;
mod db;
pub mod entities;
mod error;
mod jobs;
pub mod repositories;
mod tx;

pub use db::{Db, DbOptions, PING_AFTER_IDLE, Tx, UnitOfWork};
pub use error::{Error, Result};
pub use jobs::JobStats;
pub use repositories::{
    account_token::{AccountTokenRepository, ConsumedToken, NewAccountToken, TokenPurpose},
    base::BaseRepository,
    email_change_notice::{EmailChangeNoticeRepository, PendingNotice},
    refresh_token::{NewRefreshToken, RefreshTokenRecord, RefreshTokenRepository},
    task::TaskRepository,
    trusted_login::{TrustKind, TrustedLoginRepository},
    user::{PasswordHash, UserRepository},
};
/// A pool connection or a transaction; every repository method takes one.
pub use sea_orm::ConnectionTrait as Connection;
pub use tx::TxConn;
