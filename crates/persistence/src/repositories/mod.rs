//! One repository per model, each built on [`base::BaseRepository`] and
//! returning domain types.

pub mod account_token;
pub mod base;
pub mod email_change_notice;
pub mod refresh_token;
pub mod task;
pub mod trusted_login;
pub mod user;
