//! argon2id password hashing, off the async runtime.
//!
//! Hashing is deliberately slow (tens of milliseconds of CPU and 19 MiB of
//! memory per call), so it never runs on the async workers: an async worker
//! thread that hashed would stall every other request it serves. It runs
//! on a small pool of dedicated threads, one per core:
//!
//! - more hashes at once than cores only adds context switches, never
//!   throughput, so extra requests queue for a thread instead;
//! - each thread reuses its own 19 MiB working memory from one hash to the
//!   next. On tokio's blocking pool every burst of logins spawned fresh
//!   threads, each leaving a 19 MiB block in its own allocator arena, and
//!   the process grew by hundreds of megabytes under login load;
//! - a thread without work for [`KEEP_MEMORY_IDLE`] frees that memory, so
//!   an instance serving reads does not hold 19 MiB per core for the
//!   logins it once served.

use std::{
    cell::RefCell,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use argon2::{
    Algorithm, Argon2, Block, Params, Version,
    password_hash::{
        self,
        phc::{Output, ParamsString, PasswordHash, Salt},
    },
};

use crossbeam_channel::RecvTimeoutError;
use tracing::Instrument as _;

use crate::{Error, Result};

/// OWASP's recommended argon2id configuration: 19 MiB, 2 passes, 1 lane.
const MEMORY_KIB: u32 = 19 * 1024;
const ITERATIONS: u32 = 2;
const PARALLELISM: u32 = 1;

/// The largest costs a stored hash may ask for when verifying: room for
/// stronger parameters than today's, not for a denial of service.
const MAX_STORED_MEMORY_KIB: u32 = 64 * 1024;
const MAX_STORED_ITERATIONS: u32 = 10;
const MAX_STORED_PARALLELISM: u32 = 4;

type Work = Box<dyn FnOnce() + Send>;

/// How long a hashing thread keeps its working memory without work. Logins
/// that come in bursts reuse it; a process serving only reads gives it back
/// (19 MiB per thread) shortly after the last login.
const KEEP_MEMORY_IDLE: Duration = Duration::from_secs(2);

/// A fixed set of threads that run hashing work in arrival order.
#[derive(Debug)]
struct HashPool {
    queue: crossbeam_channel::Sender<Work>,
    /// Hashes queued or running; beyond `limit` a call is refused at once.
    pending: Arc<AtomicUsize>,
    limit: usize,
}

/// Hashes that may wait per hashing thread before new ones are refused:
/// about a quarter of a second of work at OWASP cost. A login flood then
/// gets quick 503s instead of an ever longer queue.
const QUEUE_PER_THREAD: usize = 32;

/// Who a hash is for, which decides how full the queue may be when it is
/// admitted. A flood of logins fills the queue; it must not refuse the
/// owners of accounts. So the queue sheds by trust and budget only, never
/// by whether the email has an account (which would tell which do):
/// attempts on an email past its failure budget go first, then clients
/// the account does not know, and the last quarter of the queue is kept
/// for clients it knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// A client the account knows (a device token, an address that logged
    /// in to it), and the operator's commands: the whole queue.
    Trusted,
    /// Anyone else (registrations, password changes, unknown clients'
    /// logins): up to three quarters of the queue.
    Untrusted,
    /// An unknown client's login on an email past its failure budget: the
    /// first half of the queue only.
    OverBudget,
}

impl Admission {
    /// How many hashes may be queued or running when one of this kind is
    /// admitted, of `limit` in all.
    fn room(self, limit: usize) -> usize {
        match self {
            Self::Trusted => limit,
            Self::Untrusted => limit * 3 / 4,
            Self::OverBudget => limit / 2,
        }
    }
}

/// Gives a queue slot back when the work item is done or dropped.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl HashPool {
    /// `threads` threads, at most `limit` hashes queued or running; each
    /// thread frees its working memory after `keep_memory` without work.
    fn start(threads: usize, limit: usize, keep_memory: Duration) -> std::io::Result<Self> {
        let (queue, work) = crossbeam_channel::unbounded::<Work>();
        for index in 0..threads {
            let work = work.clone();
            std::thread::Builder::new()
                .name(format!("password-hash-{index}"))
                .spawn(move || {
                    loop {
                        let next = match work.recv_timeout(keep_memory) {
                            Err(RecvTimeoutError::Timeout) => {
                                // Idle: give the working memory back, then
                                // wait for work without a deadline.
                                MEMORY.with_borrow_mut(|memory| *memory = Vec::new());
                                work.recv().map_err(|_| RecvTimeoutError::Disconnected)
                            }
                            next => next,
                        };
                        match next {
                            // A panic fails that one call (its result is
                            // dropped) and keeps the thread serving.
                            Ok(job) => {
                                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                            }
                            Err(_) => return, // Every sender is gone.
                        }
                    }
                })?;
        }
        Ok(Self {
            queue,
            pending: Arc::new(AtomicUsize::new(0)),
            limit,
        })
    }

    /// Runs `work` on a pool thread and waits for its result without
    /// blocking the async runtime. Refused with [`Error::Overloaded`] when
    /// the queue holds as many as `admission` allows.
    async fn run<T: Send + 'static>(
        &self,
        admission: Admission,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T> {
        if self.pending.fetch_add(1, Ordering::AcqRel) >= admission.room(self.limit) {
            self.pending.fetch_sub(1, Ordering::AcqRel);
            return Err(Error::Overloaded {
                what: "password hashing",
            });
        }
        let slot = Slot(self.pending.clone());
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Work = Box::new(move || {
            let _slot = slot;
            // The caller gave up (its request was cancelled): skip the work
            // rather than burn a hashing thread on an answer nobody reads.
            if !done.is_closed() {
                let _ = done.send(work());
            }
        });
        self.queue.send(job).map_err(|_| hash_pool_gone())?;
        result.await.map_err(|_| hash_pool_gone())
    }
}

fn hash_pool_gone() -> Error {
    Error::Crypto {
        context: "the password hashing threads stopped",
        source: "a hashing thread panicked or exited".into(),
    }
}

/// Hashes and verifies passwords.
#[derive(Clone)]
pub struct PasswordHasher {
    /// A hash of a random password with the current parameters. Verifying
    /// against it when the email is unknown costs the same as a real check,
    /// so response time does not reveal which emails have accounts.
    decoy: Arc<str>,
    pool: Arc<HashPool>,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher").finish_non_exhaustive()
    }
}

fn argon2() -> Argon2<'static> {
    let params = Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None)
        .unwrap_or_else(|_| unreachable!("constant argon2 parameters are valid"));
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

thread_local! {
    /// This hashing thread's argon2 working memory, kept between hashes.
    /// argon2's own per-call allocation is 64-byte aligned, which the
    /// system allocator does not hand back or reuse well: freed 19 MiB
    /// blocks piled up, hundreds of megabytes under login load.
    static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Runs argon2 with `argon2`'s parameters into `out`, on this thread's
/// reusable memory.
fn compute(
    argon2: &Argon2<'_>,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> argon2::Result<()> {
    MEMORY.with_borrow_mut(|memory| {
        let needed = argon2.params().block_count();
        if memory.len() < needed {
            memory.resize(needed, Block::new());
        }
        let result =
            argon2.hash_password_into_with_memory(password, salt, out, &mut memory[..needed]);
        // Keep at most what today's parameters need; a larger stored hash
        // (up to the accepted maximum) does not pin its memory for good.
        let standard = self::argon2().params().block_count();
        if memory.len() > standard {
            memory.truncate(standard);
            memory.shrink_to_fit();
        }
        result
    })
}

/// A PHC string (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`) for
/// `password` with a fresh random salt and the current parameters.
fn hash_blocking(password: &[u8]) -> Result<String> {
    let fail = |message: String| Error::Crypto {
        context: "password hashing failed",
        source: message.into(),
    };
    let argon2 = argon2();
    let salt_bytes = password_hash::try_generate_salt().map_err(|err| fail(err.to_string()))?;
    let salt = Salt::new(&salt_bytes).map_err(|err| fail(err.to_string()))?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    compute(&argon2, password, &salt_bytes, &mut out).map_err(|err| fail(err.to_string()))?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(argon2.params()).map_err(|err| fail(err.to_string()))?,
        salt: Some(salt),
        hash: Some(Output::new(&out).map_err(|err| fail(err.to_string()))?),
    };
    Ok(hash.to_string())
}

/// Whether `password` matches the PHC string `hash`, computed with the
/// algorithm, version and parameters stored in the hash (so hashes made
/// with older parameters keep verifying). `Err` when the hash is not a
/// valid argon2 PHC string.
fn verify_blocking(password: &[u8], hash: &str) -> Result<bool, String> {
    let parsed = PasswordHash::new(hash).map_err(|err| err.to_string())?;
    let algorithm =
        Algorithm::try_from(parsed.algorithm.as_str()).map_err(|err| err.to_string())?;
    let version = parsed
        .version
        .map_or(Ok(Version::V0x13), Version::try_from)
        .map_err(|err| err.to_string())?;
    let params = Params::try_from(&parsed).map_err(|err| err.to_string())?;
    // Costs come from the stored hash. A hash planted with enormous ones
    // (a compromised or badly migrated row) must not take a hashing thread
    // or the process's memory down with it.
    if params.m_cost() > MAX_STORED_MEMORY_KIB
        || params.t_cost() > MAX_STORED_ITERATIONS
        || params.p_cost() > MAX_STORED_PARALLELISM
    {
        return Err(format!(
            "stored hash costs m={}, t={}, p={} exceed the accepted maximum",
            params.m_cost(),
            params.t_cost(),
            params.p_cost()
        ));
    }
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return Err("the hash has no salt or no output".to_owned());
    };
    let mut out = vec![0u8; expected.len()];
    compute(
        &Argon2::new(algorithm, version, params),
        password,
        salt.as_ref(),
        &mut out,
    )
    .map_err(|err| err.to_string())?;
    // `Output`'s equality is constant-time.
    Ok(Output::new(&out).map_err(|err| err.to_string())? == *expected)
}

/// In a sampled trace, a span around one argon2 computation (target
/// `otel`: a trace's span only, see `infra::telemetry::trace::CHILD`),
/// waiting for a hashing thread included.
fn hash_span() -> tracing::Span {
    tracing::info_span!(target: "otel", "password hash", otel.name = "password hash")
}

impl PasswordHasher {
    /// Prepares the hasher, computing the decoy hash (one hash of CPU time,
    /// on the hashing threads like every other).
    pub async fn new() -> Result<Self> {
        let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let pool = Arc::new(
            HashPool::start(threads, threads * QUEUE_PER_THREAD, KEEP_MEMORY_IDLE).map_err(
                |err| Error::Crypto {
                    context: "cannot start the password hashing threads",
                    source: err.into(),
                },
            )?,
        );
        let decoy = pool
            .run(Admission::Trusted, || {
                hash_blocking(uuid::Uuid::new_v4().as_bytes())
            })
            .await??;
        Ok(Self {
            decoy: decoy.into(),
            pool,
        })
    }

    /// Hashes a password into a PHC string (`$argon2id$v=19$m=19456,...`)
    /// with a fresh random salt.
    pub async fn hash(&self, password: &domain::Password) -> Result<String> {
        let plain = password.expose().to_owned();
        self.pool
            .run(Admission::Untrusted, move || {
                hash_blocking(plain.as_bytes())
            })
            .instrument(hash_span())
            .await?
    }

    /// A hash no one can log in with: of 32 random bytes that are then
    /// forgotten. It verifies like any other (same time, no error logged),
    /// it just never matches.
    pub async fn hash_unusable(&self) -> Result<String> {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).map_err(|err| Error::Crypto {
            context: "no random bytes for an unusable password",
            source: err.to_string().into(),
        })?;
        self.pool
            .run(Admission::Trusted, move || hash_blocking(&secret))
            .instrument(hash_span())
            .await?
    }

    /// Whether `plain` matches `hash`. With no hash (unknown account) it
    /// checks against the decoy and returns `false`, spending the same time.
    /// A stored hash that does not parse counts as a mismatch, and is logged.
    /// `admission` says how full a queue it may join.
    pub async fn verify(
        &self,
        plain: String,
        hash: Option<String>,
        admission: Admission,
    ) -> Result<bool> {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.decoy.to_string());
        let matches = self
            .pool
            .run(admission, move || {
                match verify_blocking(plain.as_bytes(), &hash) {
                    Ok(matches) => matches,
                    Err(err) => {
                        tracing::error!(error = %err, "stored password hash cannot be verified");
                        false
                    }
                }
            })
            .instrument(hash_span())
            .await?;
        Ok(known && matches)
    }

    /// Whether the queue is so full that who a login is for decides
    /// whether it is admitted (then trust is worth looking up).
    pub fn crowded(&self) -> bool {
        self.pool.pending.load(Ordering::Acquire) >= Admission::OverBudget.room(self.pool.limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_with_owasp_argon2id_and_verifies() {
        let hasher = PasswordHasher::new().await.unwrap();
        let password = domain::Password::parse("Str0ng!pass").unwrap();
        let hash = hasher.hash(&password).await.unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(
            hasher
                .verify("Str0ng!pass".into(), Some(hash.clone()), Admission::Trusted)
                .await
                .unwrap()
        );
        assert!(
            !hasher
                .verify("Wr0ng!pass".into(), Some(hash.clone()), Admission::Trusted)
                .await
                .unwrap()
        );
        // Same password, new salt: a different hash.
        assert_ne!(hash, hasher.hash(&password).await.unwrap());
    }

    #[tokio::test]
    async fn hashes_stay_compatible_with_the_argon2_crates_own_format() {
        use argon2::{PasswordHasher as _, PasswordVerifier as _};
        let hasher = PasswordHasher::new().await.unwrap();
        // A hash made by the crate's own API (as stored before) verifies here...
        let theirs = argon2().hash_password(b"Str0ng!pass").unwrap().to_string();
        assert!(
            hasher
                .verify(
                    "Str0ng!pass".into(),
                    Some(theirs.clone()),
                    Admission::Trusted
                )
                .await
                .unwrap()
        );
        assert!(
            !hasher
                .verify("Wr0ng!pass".into(), Some(theirs), Admission::Trusted)
                .await
                .unwrap()
        );
        // ...and ours verifies with the crate's API.
        let ours = hasher
            .hash(&domain::Password::parse("Str0ng!pass").unwrap())
            .await
            .unwrap();
        assert!(
            argon2()
                .verify_password(b"Str0ng!pass", ours.as_str())
                .is_ok()
        );
        // Hashes with other parameters still verify (cheaper ones here).
        let old = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8 * 1024, 1, 1, None).unwrap(),
        )
        .hash_password(b"Str0ng!pass")
        .unwrap()
        .to_string();
        assert!(
            hasher
                .verify("Str0ng!pass".into(), Some(old), Admission::Trusted)
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn a_stored_hash_with_excessive_costs_is_refused_without_computing_it() {
        let hasher = PasswordHasher::new().await.unwrap();
        // m = 4 TiB: computing it would abort the process.
        let planted = "$argon2id$v=19$m=4294967295,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$\
                       aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g";
        assert!(
            !hasher
                .verify("x".into(), Some(planted.into()), Admission::Trusted)
                .await
                .unwrap()
        );
        let slow = "$argon2id$v=19$m=19456,t=4000000,p=1$c2FsdHNhbHRzYWx0c2FsdA$\
                    aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g";
        assert!(
            !hasher
                .verify("x".into(), Some(slow.into()), Admission::Trusted)
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn a_filling_queue_sheds_over_budget_then_untrusted_and_keeps_room_for_trusted() {
        let pool = Arc::new(HashPool::start(1, 8, KEEP_MEMORY_IDLE).unwrap());
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let hold = Arc::new(std::sync::Mutex::new(hold));
        let mut busy = Vec::new();
        let mut admitted = |admission: Admission| {
            let (pool, hold) = (pool.clone(), hold.clone());
            let before = pool.pending.load(Ordering::Acquire);
            busy.push(tokio::spawn(async move {
                pool.run(admission, move || {
                    let _ = hold.lock().unwrap().recv();
                })
                .await
            }));
            before
        };
        let wait_for = async |pending: usize| {
            while pool.pending.load(Ordering::Acquire) < pending {
                tokio::task::yield_now().await;
            }
        };
        // Half the queue (4 of 8) held by untrusted work.
        for n in 0..4 {
            admitted(Admission::Untrusted);
            wait_for(n + 1).await;
        }
        let refused = |result| matches!(result, Err(Error::Overloaded { .. }));
        assert!(
            refused(pool.run(Admission::OverBudget, || ()).await),
            "over budget: shed first"
        );
        for n in 4..6 {
            admitted(Admission::Untrusted);
            wait_for(n + 1).await;
        }
        assert!(
            refused(pool.run(Admission::Untrusted, || ()).await),
            "untrusted: shed next"
        );
        for n in 6..8 {
            admitted(Admission::Trusted);
            wait_for(n + 1).await;
        }
        assert!(
            refused(pool.run(Admission::Trusted, || ()).await),
            "the queue is full"
        );
        for _ in 0..8 {
            release.send(()).unwrap();
        }
        for task in busy {
            assert!(task.await.unwrap().is_ok());
        }
        // Slots are given back: hashing works again, for everyone.
        assert_eq!(pool.run(Admission::OverBudget, || 7).await.unwrap(), 7);
    }

    #[tokio::test]
    async fn an_idle_hashing_thread_frees_its_working_memory() {
        let pool = HashPool::start(1, 4, Duration::from_millis(100)).unwrap();
        let held = || MEMORY.with_borrow(Vec::len);
        // A hash, then what the thread holds right after it: kept for reuse.
        let hash_then_held = async || {
            let hashed = pool
                .run(Admission::Trusted, || hash_blocking(b"password"))
                .await
                .unwrap();
            assert!(hashed.is_ok());
            pool.run(Admission::Trusted, held).await.unwrap()
        };
        let standard = argon2().params().block_count();
        assert_eq!(hash_then_held().await, standard);
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(pool.run(Admission::Trusted, held).await.unwrap(), 0);
        // Hashing after the release allocates it again.
        assert_eq!(hash_then_held().await, standard);
    }

    #[tokio::test]
    async fn unknown_accounts_never_verify_and_use_the_same_parameters() {
        let hasher = PasswordHasher::new().await.unwrap();
        assert!(hasher.decoy.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(
            !hasher
                .verify("anything".into(), None, Admission::Trusted)
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn a_corrupt_stored_hash_is_a_mismatch_not_a_crash() {
        let hasher = PasswordHasher::new().await.unwrap();
        assert!(
            !hasher
                .verify("x".into(), Some("not-a-hash".into()), Admission::Trusted)
                .await
                .unwrap()
        );
    }
}
