//! One repository per model. Each method takes the connection to run on (the
//! pool or a transaction) and returns domain types.

pub mod refresh_token;
pub mod user;
