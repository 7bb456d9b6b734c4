//! One service per area of the product.

pub mod accounts;
pub mod auth;
pub mod tasks;
pub mod users;
