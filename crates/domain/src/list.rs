//! The vocabulary of lists every resource shares: which slice ([`Page`])
//! and in which order ([`Sort`]). Repositories turn them into SQL; the web
//! layer parses them from the query string.

/// The most rows one page may hold, for every resource.
pub const MAX_PAGE_SIZE: u64 = 100;

/// Which slice of a list to return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// Rows to skip.
    pub offset: u64,
    /// Rows to return at most.
    pub limit: u64,
}

/// How to order a list: a column name and a direction. Only columns the
/// repository declares sortable are accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sort {
    pub field: String,
    pub descending: bool,
}

impl Sort {
    /// Parses the `sort` query convention: `created_at` ascending,
    /// `-created_at` descending.
    pub fn parse(raw: &str) -> Self {
        match raw.strip_prefix('-') {
            Some(field) => Self {
                field: field.to_owned(),
                descending: true,
            },
            None => Self {
                field: raw.to_owned(),
                descending: false,
            },
        }
    }
}
