//! Plain domain types of the product: users, tasks, the rules their values
//! obey, the access-control lists that say who may touch which row, and
//! the vocabulary of lists every resource shares ([`Page`], [`Sort`]).
//!
//! This crate is the vocabulary every other layer shares. It must not know how
//! values are stored (no SeaORM), how they travel (no actix, no serde formats
//! of the wire), or where they are cached (no Redis). Values with invariants
//! are parsed once at the edge into types with private fields, so code that
//! holds a [`user::Email`] never has to ask whether it is valid.

pub mod acl;
pub mod error;
pub mod list;
pub mod numeric;
pub mod task;
pub mod text;
pub mod user;

pub use acl::{Permission, Principal};
pub use error::InvalidValue;
pub use list::{MAX_PAGE_SIZE, Page, Sort};
pub use numeric::Numeric;
pub use task::{NewTask, Task, TaskDescription, TaskFilter, TaskId, TaskPatch, TaskTitle};
pub use text::{MultilineText, Text};
pub use user::{Email, NewUser, Password, User, UserId, UserPatch, Username};
