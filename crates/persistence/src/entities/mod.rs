//! SeaORM entities: the schema as the ORM sees it today. Hand-written code
//! (conversions, queries) lives in the repositories, not here.

pub mod account_token;
pub mod email_change_notice;
pub mod refresh_token;
pub mod task;
pub mod trusted_login;
pub mod user;
