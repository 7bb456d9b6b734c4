//! Request and response bodies, named by purpose. Responses are built from
//! domain types; requests parse into them (see [`crate::validation`]).

pub mod monitoring;
pub mod tasks;
pub mod users;
