//! One repository per model, each built on [`base::BaseRepository`]. Each
//! method takes the connection to run on (the pool, the read replica or a
//! transaction) and returns domain types.

pub mod base;
pub mod refresh_token;
pub mod task;
pub mod user;
