//! What this process last learned from the database about each login
//! (user, login family): alive and whether its user is an admin, or ended.
//!
//! Kept in process memory only, never in a shared cache: whoever can write
//! to Redis must not be able to grant access. Entries live
//! `SESSION_RECHECK_SECONDS`, the bound on how late this instance notices a
//! change another instance made; a change made here drops its user's
//! entries at once. An in-process (moka) lookup, no I/O: the check runs on
//! every authenticated request.

use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use domain::UserId;
use uuid::Uuid;

use crate::Result;

/// `Some(is_admin)` for a live login, `None` for an ended one.
pub(crate) type Session = Option<bool>;

#[derive(Clone)]
pub(crate) struct Sessions {
    /// `None` when `SESSION_RECHECK_SECONDS` is 0: ask every time.
    known: Option<moka::future::Cache<(UserId, Uuid), Session>>,
    /// Bumped by every [`Sessions::forget`]. A check that overlapped one
    /// does not store its answer, which may predate the change.
    forgets: Arc<AtomicU64>,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions").finish_non_exhaustive()
    }
}

impl Sessions {
    pub(crate) fn new(recheck: Duration) -> Self {
        let known = (!recheck.is_zero()).then(|| {
            moka::future::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(recheck)
                .support_invalidation_closures()
                .build()
        });
        Self {
            known,
            forgets: Arc::default(),
        }
    }

    /// The remembered state of `(user, family)`, or `check`'s answer.
    pub(crate) async fn get_or_check<F, Fut>(
        &self,
        user: UserId,
        family: Uuid,
        check: F,
    ) -> Result<Session>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Session>>,
    {
        let Some(known) = &self.known else {
            return check().await;
        };
        if let Some(session) = known.get(&(user, family)).await {
            return Ok(session);
        }
        let forgets = self.forgets.load(Ordering::Acquire);
        let session = check().await?;
        if self.forgets.load(Ordering::Acquire) == forgets {
            known.insert((user, family), session).await;
            // A forget between the comparison and the insert would not see
            // this entry (invalidation predicates only reach entries older
            // than themselves): look again and drop it if one came.
            if self.forgets.load(Ordering::Acquire) != forgets {
                known.invalidate(&(user, family)).await;
            }
        }
        Ok(session)
    }

    /// Drops everything remembered about `user`'s logins (after a change
    /// that ends or demotes them has committed).
    pub(crate) fn forget(&self, user: UserId) {
        self.forgets.fetch_add(1, Ordering::AcqRel);
        if let Some(known) = &self.known {
            // Only fails without `support_invalidation_closures`, set above.
            let _ = known.invalidate_entries_if(move |(id, _), _| *id == user);
        }
    }
}
