//! The Redis side of `JOB_BACKEND=redis`: where relayed jobs wait, are
//! claimed under a lease, and end done or dead.
//!
//! Every key lives under `{REDIS_KEY_PREFIX}{jobs}:`. The scripts build
//! key names from their arguments, which a single Redis server (or a
//! primary with replicas) allows; the braces are a hash tag, so the keys
//! would share one slot should the store move to Redis Cluster (whose
//! client would also need the keys declared).
//!
//! | Key | Type | Holds |
//! |---|---|---|
//! | `job:{id}` | hash | the job: kind, payload, status, attempts, times, last error |
//! | `ready:{kind}` | sorted set | waiting jobs of one kind, scored by `run_at` (ms) |
//! | `leases:{kind}` | sorted set | running jobs of one kind, scored by lease end (ms) |
//! | `dead` | sorted set | dead jobs not yet recorded in the table, scored by when the relay may take them |
//! | `done` | sorted set | done jobs not yet recorded in the table, scored likewise |
//! | `kinds` | set | every kind ever pushed (for counting) |
//! | `alive` | string | the recovery mark: which recovery, on which server run, last completed |
//! | `lock:{name}` | string | a lock's holder (recovery runs one at a time) |
//!
//! Each state change is one Lua script, so it is atomic, and every change
//! after a claim is conditioned on the claim (worker id and attempt
//! number), as in the database backend. Times come from the Redis
//! server's clock (`TIME`), so workers' clocks need not agree on leases.
//!
//! Redis holds a job only while it is live. Once it is done or dead, the
//! relay copies its final state to the job's row ([`RedisJobs::finished`])
//! and then drops it ([`RedisJobs::forget`]), so the table is the record
//! of every job and Redis holds only work in progress. That is what makes
//! a loss of Redis's data recoverable: every row still marked relayed is a
//! job Redis should hold, and one it does not hold is pushed again.

use std::{collections::HashMap, sync::LazyLock, time::Duration};

use chrono::{DateTime, Utc};
use deadpool_redis::redis::{self, Script};
use domain::job::{JobRecord, JobStatus};
use uuid::Uuid;

use crate::redis::{RedisError, RedisPool};

/// Shared by every script: `ARGV[1]` is the key base.
const PRELUDE: &str = r"
local base = ARGV[1]
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function int(x) return string.format('%d', x) end
local function job_key(id) return base .. 'job:' .. id end
-- The kind of job `id` if `worker` holds it from the claim that made
-- `attempt`; nil when it does not (finished, or taken over).
local function held(id, worker, attempt)
  local v = redis.call('HMGET', job_key(id), 'status', 'locked_by', 'attempts', 'kind')
  if v[1] == 'running' and v[2] == worker and v[3] == attempt then return v[4] end
  return nil
end
";

/// `ARGV[2..]`: groups of id, kind, payload, attempts, max_attempts,
/// run_at, created_at, dedupe_key (empty for none). A job whose hash
/// exists is skipped, so pushing twice (a relay that crashed before it
/// marked its rows) adds nothing. Returns how many were added.
const PUSH: &str = r"
local n = 0
for i = 2, #ARGV, 8 do
  local id, kind, run_at = ARGV[i], ARGV[i + 1], ARGV[i + 5]
  local key = job_key(id)
  if redis.call('EXISTS', key) == 0 then
    redis.call('HSET', key, 'id', id, 'kind', kind, 'payload', ARGV[i + 2], 'status', 'pending',
      'attempts', ARGV[i + 3], 'max_attempts', ARGV[i + 4], 'run_at', run_at,
      'created_at', ARGV[i + 6])
    if ARGV[i + 7] ~= '' then redis.call('HSET', key, 'dedupe_key', ARGV[i + 7]) end
    redis.call('ZADD', base .. 'ready:' .. kind, run_at, id)
    redis.call('SADD', base .. 'kinds', kind)
    n = n + 1
  end
end
return n
";

/// `ARGV`: base, worker, lease ms, limit, number of kinds, the kinds, then
/// the ids the worker still runs (never re-claimed by it). Expired leases
/// first: on the last attempt the job is dead, else it is claimed again.
/// Returns `{claimed, abandoned}`, each a list of `HGETALL` replies.
const CLAIM: &str = r"
local worker, lease, limit, nkinds = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local holding, nholding = {}, 0
for i = 6 + nkinds, #ARGV do holding[ARGV[i]] = true; nholding = nholding + 1 end
local now = now_ms()
local claimed, abandoned = {}, {}
local function take(id, kind)
  local key = job_key(id)
  redis.call('HINCRBY', key, 'attempts', 1)
  redis.call('HSET', key, 'status', 'running', 'locked_by', worker)
  redis.call('ZADD', base .. 'leases:' .. kind, int(now + lease), id)
  claimed[#claimed + 1] = redis.call('HGETALL', key)
end
for k = 6, 5 + nkinds do
  if #claimed >= limit then break end
  local kind = ARGV[k]
  local leases = base .. 'leases:' .. kind
  local expired = redis.call('ZRANGEBYSCORE', leases, '-inf', '(' .. int(now),
    'LIMIT', 0, limit - #claimed + nholding)
  for _, id in ipairs(expired) do
    if #claimed >= limit then break end
    if not holding[id] then
      local key = job_key(id)
      local v = redis.call('HMGET', key, 'attempts', 'max_attempts')
      local attempts, max = tonumber(v[1]), tonumber(v[2])
      if attempts == nil then
        redis.call('ZREM', leases, id)
      elseif attempts >= max then
        redis.call('ZREM', leases, id)
        redis.call('HSET', key, 'status', 'dead', 'finished_at', int(now), 'last_error',
          'worker stopped responding during attempt ' .. attempts .. ' of ' .. max)
        redis.call('HDEL', key, 'locked_by')
        redis.call('ZADD', base .. 'dead', int(now), id)
        abandoned[#abandoned + 1] = redis.call('HGETALL', key)
      else
        take(id, kind)
      end
    end
  end
  if #claimed < limit then
    local ready = base .. 'ready:' .. kind
    local due = redis.call('ZRANGEBYSCORE', ready, '-inf', int(now), 'LIMIT', 0, limit - #claimed)
    for _, id in ipairs(due) do
      -- A job pushed back after a loss may still run here: left waiting.
      if not holding[id] then
        redis.call('ZREM', ready, id)
        if redis.call('EXISTS', job_key(id)) == 1 then take(id, kind) end
      end
    end
  end
end
return {claimed, abandoned}
";

/// `ARGV`: base, worker, lease ms, then pairs of id and attempt. Renews
/// the leases the worker still holds; returns how many.
const HEARTBEAT: &str = r"
local worker = ARGV[2]
local deadline = int(now_ms() + tonumber(ARGV[3]))
local n = 0
for i = 4, #ARGV, 2 do
  local kind = held(ARGV[i], worker, ARGV[i + 1])
  if kind then
    redis.call('ZADD', base .. 'leases:' .. kind, 'XX', deadline, ARGV[i])
    n = n + 1
  end
end
return n
";

/// `ARGV`: base, id, worker, attempt. Done; the payload is dropped (the
/// database row keeps it).
const COMPLETE: &str = r"
local id = ARGV[2]
local kind = held(id, ARGV[3], ARGV[4])
if not kind then return 0 end
local now = int(now_ms())
redis.call('ZREM', base .. 'leases:' .. kind, id)
redis.call('HSET', job_key(id), 'status', 'done', 'finished_at', now)
redis.call('HDEL', job_key(id), 'locked_by', 'payload')
redis.call('ZADD', base .. 'done', now, id)
return 1
";

/// `ARGV`: base, id, worker, attempt, error, retry delay ms (empty: dead).
const FAIL: &str = r"
local id = ARGV[2]
local kind = held(id, ARGV[3], ARGV[4])
if not kind then return 0 end
local key, now = job_key(id), now_ms()
redis.call('ZREM', base .. 'leases:' .. kind, id)
redis.call('HDEL', key, 'locked_by')
if ARGV[6] == '' then
  redis.call('HSET', key, 'status', 'dead', 'last_error', ARGV[5], 'finished_at', int(now))
  redis.call('ZADD', base .. 'dead', int(now), id)
else
  local run_at = int(now + tonumber(ARGV[6]))
  redis.call('HSET', key, 'status', 'pending', 'last_error', ARGV[5], 'run_at', run_at)
  redis.call('ZADD', base .. 'ready:' .. kind, run_at, id)
end
return 1
";

/// `ARGV`: base, id, worker, attempt. Back to waiting, due now, the
/// attempt not counted.
const RELEASE: &str = r"
local id = ARGV[2]
local kind = held(id, ARGV[3], ARGV[4])
if not kind then return 0 end
local key, now = job_key(id), int(now_ms())
redis.call('ZREM', base .. 'leases:' .. kind, id)
redis.call('HDEL', key, 'locked_by')
redis.call('HINCRBY', key, 'attempts', -1)
redis.call('HSET', key, 'status', 'pending', 'run_at', now)
redis.call('ZADD', base .. 'ready:' .. kind, now, id)
return 1
";

/// `ARGV`: base. `{pending, running, done, dead}`.
const COUNTS: &str = r"
local pending, running = 0, 0
for _, kind in ipairs(redis.call('SMEMBERS', base .. 'kinds')) do
  pending = pending + redis.call('ZCARD', base .. 'ready:' .. kind)
  running = running + redis.call('ZCARD', base .. 'leases:' .. kind)
end
return {pending, running, redis.call('ZCARD', base .. 'done'), redis.call('ZCARD', base .. 'dead')}
";

/// `ARGV`: base, limit, hide ms. Up to `limit` finished jobs (done first,
/// then dead) as `HGETALL` replies, each hidden from the next calls for
/// `hide ms` (its score moves ahead): concurrent relays take different
/// jobs, and one a relay could not settle comes back later without
/// blocking the rest. Entries whose hash is gone are dropped.
const FINISHED: &str = r"
local limit, now = tonumber(ARGV[2]), now_ms()
local hidden_until = int(now + tonumber(ARGV[3]))
local found = {}
for _, set in ipairs({'done', 'dead'}) do
  local key = base .. set
  if #found < limit then
    local ids = redis.call('ZRANGEBYSCORE', key, '-inf', int(now), 'LIMIT', 0, limit - #found)
    for _, id in ipairs(ids) do
      local job = redis.call('HGETALL', job_key(id))
      if #job == 0 then
        redis.call('ZREM', key, id)
      else
        redis.call('ZADD', key, 'XX', hidden_until, id)
        found[#found + 1] = job
      end
    end
  end
end
return found
";

/// `ARGV`: base, then groups of id, status, attempts, finished_at (ms).
/// Drops each job that is still in that state (not a later run of it);
/// returns how many.
const FORGET: &str = r"
local n = 0
for i = 2, #ARGV, 4 do
  local id = ARGV[i]
  local key = job_key(id)
  local v = redis.call('HMGET', key, 'status', 'attempts', 'finished_at')
  if v[1] == ARGV[i + 1] and v[2] == ARGV[i + 2] and v[3] == ARGV[i + 3] then
    redis.call('DEL', key)
    redis.call('ZREM', base .. v[1], id)
    n = n + 1
  end
end
return n
";

/// `ARGV`: base, lock name, token, ttl ms. Takes the lock, or extends it
/// when `token` holds it; 1 when the caller holds it afterwards.
const HOLD_LOCK: &str = r"
local key = base .. 'lock:' .. ARGV[2]
if redis.call('GET', key) == ARGV[3] then
  redis.call('PEXPIRE', key, ARGV[4])
  return 1
end
if redis.call('SET', key, ARGV[3], 'NX', 'PX', ARGV[4]) then return 1 end
return 0
";

/// `ARGV`: base, expected, value. Sets the recovery mark to `value` if it
/// is `expected`; 1 when it did.
const SWAP_MARK: &str = r"
local key = base .. 'alive'
if redis.call('GET', key) ~= ARGV[2] then return 0 end
redis.call('SET', key, ARGV[3])
return 1
";

/// `ARGV`: base, lock name, token. Releases the lock if `token` holds it.
const RELEASE_LOCK: &str = r"
local key = base .. 'lock:' .. ARGV[2]
if redis.call('GET', key) == ARGV[3] then redis.call('DEL', key) end
return 0
";

fn script(body: &str) -> Script {
    Script::new(&format!("{PRELUDE}{body}"))
}

static PUSH_SCRIPT: LazyLock<Script> = LazyLock::new(|| script(PUSH));
static CLAIM_SCRIPT: LazyLock<Script> = LazyLock::new(|| script(CLAIM));
static HEARTBEAT_SCRIPT: LazyLock<Script> = LazyLock::new(|| script(HEARTBEAT));
static COMPLETE_SCRIPT: LazyLock<Script> = LazyLock::new(|| script(COMPLETE));
static FAIL_SCRIPT: LazyLock<Script> = LazyLock::new(|| script(FAIL));
static RELEASE_SCRIPT: LazyLock<Script> = LazyLock::new(|| script(RELEASE));
static COUNTS_SCRIPT: LazyLock<Script> = LazyLock::new(|| script(COUNTS));
static FINISHED_SCRIPT: LazyLock<Script> = LazyLock::new(|| script(FINISHED));
static FORGET_SCRIPT: LazyLock<Script> = LazyLock::new(|| script(FORGET));
static HOLD_LOCK_SCRIPT: LazyLock<Script> = LazyLock::new(|| script(HOLD_LOCK));
static RELEASE_LOCK_SCRIPT: LazyLock<Script> = LazyLock::new(|| script(RELEASE_LOCK));
static SWAP_MARK_SCRIPT: LazyLock<Script> = LazyLock::new(|| script(SWAP_MARK));

/// What tells the relay whether Redis still holds every relayed job: the
/// mark recovery left, and the server run it left it on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Epoch {
    /// The mark's value; `None` when Redis lost it with its data.
    pub mark: Option<String>,
    /// The Redis server's `run_id`.
    pub run_id: String,
}

/// What a claim found: jobs to run now, and jobs whose worker died on
/// their last allowed attempt (now dead).
pub type ClaimedJobs = (Vec<JobRecord>, Vec<JobRecord>);

/// The Redis job store. Cheap to clone.
#[derive(Clone)]
pub struct RedisJobs {
    pool: RedisPool,
    base: String,
}

impl std::fmt::Debug for RedisJobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisJobs")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl RedisJobs {
    /// The store on `pool`, under the pool's key prefix.
    pub fn new(pool: RedisPool) -> Self {
        let base = pool.key("{jobs}:");
        Self { pool, base }
    }

    /// Adds `jobs` (waiting, due at their `run_at`) unless already there.
    /// Returns how many were new.
    pub async fn push(&self, jobs: &[JobRecord]) -> Result<u64, RedisError> {
        if jobs.is_empty() {
            return Ok(0);
        }
        let mut invocation = PUSH_SCRIPT.arg(&self.base);
        for job in jobs {
            invocation
                .arg(job.id.to_string())
                .arg(&job.kind)
                .arg(&job.payload)
                .arg(job.attempts)
                .arg(job.max_attempts)
                .arg(job.run_at.timestamp_millis())
                .arg(job.created_at.timestamp_millis())
                .arg(job.dedupe_key.as_deref().unwrap_or_default());
        }
        self.count(invocation).await
    }

    /// Claims up to `limit` due jobs of `kinds` for `worker`, skipping
    /// `holding` (jobs it still runs). Each claim counts an attempt.
    pub async fn claim(
        &self,
        worker: &str,
        kinds: &[&str],
        holding: &[Uuid],
        limit: u64,
        lease: Duration,
    ) -> Result<ClaimedJobs, RedisError> {
        // Kinds in a random order, so a busy kind cannot starve the rest.
        let mut kinds = kinds.to_vec();
        fastrand::shuffle(&mut kinds);
        let mut invocation = CLAIM_SCRIPT.arg(&self.base);
        invocation
            .arg(worker)
            .arg(millis(lease))
            .arg(limit)
            .arg(kinds.len())
            .arg(kinds);
        for id in holding {
            invocation.arg(id.to_string());
        }
        let (claimed, abandoned) = self
            .pool
            .run(|mut conn| async move {
                invocation
                    .invoke_async::<(Vec<Vec<String>>, Vec<Vec<String>>)>(&mut conn)
                    .await
            })
            .await?;
        Ok((decode_all(claimed)?, decode_all(abandoned)?))
    }

    /// Renews the lease of `held` jobs (id, attempt) `worker` still holds.
    pub async fn heartbeat(
        &self,
        worker: &str,
        held: &[(Uuid, u32)],
        lease: Duration,
    ) -> Result<u64, RedisError> {
        let mut invocation = HEARTBEAT_SCRIPT.arg(&self.base);
        invocation.arg(worker).arg(millis(lease));
        for (id, attempt) in held {
            invocation.arg(id.to_string()).arg(attempt);
        }
        self.count(invocation).await
    }

    /// Records success; `false` when `worker` no longer held the job.
    pub async fn complete(&self, id: Uuid, worker: &str, attempt: u32) -> Result<bool, RedisError> {
        let mut invocation = COMPLETE_SCRIPT.arg(&self.base);
        invocation.arg(id.to_string()).arg(worker).arg(attempt);
        self.flag(invocation).await
    }

    /// Records a failed attempt: retried after `retry_in`, or dead when
    /// there is none. `false` when `worker` no longer held the job.
    pub async fn fail(
        &self,
        id: Uuid,
        worker: &str,
        attempt: u32,
        error: &str,
        retry_in: Option<Duration>,
    ) -> Result<bool, RedisError> {
        let mut invocation = FAIL_SCRIPT.arg(&self.base);
        invocation
            .arg(id.to_string())
            .arg(worker)
            .arg(attempt)
            .arg(error)
            .arg(
                retry_in
                    .map(|delay| millis(delay).to_string())
                    .unwrap_or_default(),
            );
        self.flag(invocation).await
    }

    /// Hands a job back without counting the attempt.
    pub async fn release(&self, id: Uuid, worker: &str, attempt: u32) -> Result<bool, RedisError> {
        let mut invocation = RELEASE_SCRIPT.arg(&self.base);
        invocation.arg(id.to_string()).arg(worker).arg(attempt);
        self.flag(invocation).await
    }

    /// Runs a script that answers a count.
    async fn count(&self, invocation: redis::ScriptInvocation<'static>) -> Result<u64, RedisError> {
        self.pool
            .run(|mut conn| async move { invocation.invoke_async::<u64>(&mut conn).await })
            .await
    }

    /// Runs a script that answers 1 (done) or 0.
    async fn flag(&self, invocation: redis::ScriptInvocation<'static>) -> Result<bool, RedisError> {
        self.count(invocation).await.map(|changed| changed == 1)
    }

    /// The jobs `ids` (in order), `None` for those Redis does not hold
    /// (or cannot decode: logged). Done jobs come without their payload.
    pub async fn get_many(&self, ids: &[Uuid]) -> Result<Vec<Option<JobRecord>>, RedisError> {
        let mut found = Vec::with_capacity(ids.len());
        // Bounded pipelines: one round trip per 500 jobs.
        for chunk in ids.chunks(500) {
            let mut pipe = redis::pipe();
            for id in chunk {
                pipe.hgetall(self.job_key(*id));
            }
            let replies: Vec<Vec<String>> = self
                .pool
                .run(|mut conn| async move { pipe.query_async(&mut conn).await })
                .await?;
            for fields in replies {
                found.push(if fields.is_empty() {
                    None
                } else {
                    decode(fields)
                        .inspect_err(|err| tracing::error!(error = %err, "skipping a job"))
                        .ok()
                });
            }
        }
        Ok(found)
    }

    /// Dead jobs not yet recorded in the table.
    pub async fn dead(&self, limit: u64) -> Result<Vec<JobRecord>, RedisError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let key = format!("{}dead", self.base);
        let stop = isize::try_from(limit - 1).unwrap_or(isize::MAX);
        let ids: Vec<String> = self
            .pool
            .run(|mut conn| async move {
                redis::cmd("ZRANGE")
                    .arg(key)
                    .arg(0)
                    .arg(stop)
                    .query_async(&mut conn)
                    .await
            })
            .await?;
        let ids = parse_ids(&ids)?;
        Ok(self.get_many(&ids).await?.into_iter().flatten().collect())
    }

    /// How many jobs wait, run, are done and are dead.
    pub async fn counts(&self) -> Result<Vec<(JobStatus, u64)>, RedisError> {
        let invocation = COUNTS_SCRIPT.arg(&self.base);
        let [pending, running, done, dead] = self
            .pool
            .run(|mut conn| async move { invocation.invoke_async::<[u64; 4]>(&mut conn).await })
            .await?;
        Ok(vec![
            (JobStatus::Pending, pending),
            (JobStatus::Running, running),
            (JobStatus::Done, done),
            (JobStatus::Dead, dead),
        ])
    }

    /// Up to `limit` jobs that are done or dead, for the relay to record
    /// in their rows; each is hidden from other callers for `hide` (and
    /// comes back after it unless forgotten). Done jobs come without their
    /// payload. A job whose hash cannot be read is logged and skipped (it
    /// comes back too), so it cannot hold up the others.
    pub async fn finished(&self, limit: u64, hide: Duration) -> Result<Vec<JobRecord>, RedisError> {
        let mut invocation = FINISHED_SCRIPT.arg(&self.base);
        invocation.arg(limit).arg(millis(hide));
        let found =
            self.pool
                .run(|mut conn| async move {
                    invocation.invoke_async::<Vec<Vec<String>>>(&mut conn).await
                })
                .await?;
        Ok(found
            .into_iter()
            .filter_map(|fields| {
                decode(fields)
                    .inspect_err(|err| tracing::error!(error = %err, "skipping a finished job"))
                    .ok()
            })
            .collect())
    }

    /// Drops finished `jobs` whose rows now hold their final state, if
    /// they are still in the state read; returns how many were dropped.
    pub async fn forget(&self, jobs: &[JobRecord]) -> Result<u64, RedisError> {
        if jobs.is_empty() {
            return Ok(0);
        }
        let mut invocation = FORGET_SCRIPT.arg(&self.base);
        for job in jobs {
            invocation
                .arg(job.id.to_string())
                .arg(job.status.as_str())
                .arg(job.attempts)
                .arg(
                    job.finished_at
                        .map(|at| at.timestamp_millis().to_string())
                        .unwrap_or_default(),
                );
        }
        self.count(invocation).await
    }

    /// Takes the lock `name` for `token` for `ttl`, or extends it when
    /// `token` already holds it; `false` when someone else holds it.
    pub async fn hold_lock(
        &self,
        name: &str,
        token: &str,
        ttl: Duration,
    ) -> Result<bool, RedisError> {
        let mut invocation = HOLD_LOCK_SCRIPT.arg(&self.base);
        invocation.arg(name).arg(token).arg(millis(ttl).max(1));
        self.flag(invocation).await
    }

    /// Releases the lock `name` if `token` holds it.
    pub async fn release_lock(&self, name: &str, token: &str) -> Result<(), RedisError> {
        let mut invocation = RELEASE_LOCK_SCRIPT.arg(&self.base);
        invocation.arg(name).arg(token);
        self.flag(invocation).await.map(|_| ())
    }

    /// Which of `ids` Redis holds no job for.
    pub async fn missing(&self, ids: &[Uuid]) -> Result<Vec<Uuid>, RedisError> {
        let mut missing = Vec::new();
        for chunk in ids.chunks(500) {
            let mut pipe = redis::pipe();
            for id in chunk {
                pipe.exists(self.job_key(*id));
            }
            let exists: Vec<bool> = self
                .pool
                .run(|mut conn| async move { pipe.query_async(&mut conn).await })
                .await?;
            missing.extend(
                chunk
                    .iter()
                    .zip(exists)
                    .filter(|(_, exists)| !exists)
                    .map(|(id, _)| *id),
            );
        }
        Ok(missing)
    }

    /// The recovery mark (see [`RedisJobs::set_mark`]) and the id of the
    /// Redis server's current run (`run_id`, new at every restart and on
    /// every other server after a fail-over), read together.
    pub async fn epoch(&self) -> Result<Epoch, RedisError> {
        let mut pipe = redis::pipe();
        pipe.get(self.alive_key()).cmd("INFO").arg("server");
        let (mark, info): (Option<String>, String) = self
            .pool
            .run(|mut conn| async move { pipe.query_async(&mut conn).await })
            .await?;
        let run_id = info
            .lines()
            .find_map(|line| line.strip_prefix("run_id:"))
            .map(str::trim)
            .ok_or_else(|| RedisError::Command("INFO server has no run_id".to_owned()))?;
        Ok(Epoch {
            mark,
            run_id: run_id.to_owned(),
        })
    }

    /// Sets the recovery mark: the relay compares it, with the server's
    /// run id, to tell whether Redis may have lost jobs.
    pub async fn set_mark(&self, value: &str) -> Result<(), RedisError> {
        let (key, value) = (self.alive_key(), value.to_owned());
        self.pool
            .run(|mut conn| async move {
                redis::cmd("SET")
                    .arg(key)
                    .arg(value)
                    .query_async(&mut conn)
                    .await
            })
            .await
    }

    /// Sets the recovery mark to `value` if it still is `expected`;
    /// `false` when it changed (Redis lost it, or another recovery ran).
    pub async fn swap_mark(&self, expected: &str, value: &str) -> Result<bool, RedisError> {
        let mut invocation = SWAP_MARK_SCRIPT.arg(&self.base);
        invocation.arg(expected).arg(value);
        self.flag(invocation).await
    }

    fn alive_key(&self) -> String {
        format!("{}alive", self.base)
    }

    fn job_key(&self, id: Uuid) -> String {
        format!("{}job:{id}", self.base)
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn corrupt(reason: impl std::fmt::Display) -> RedisError {
    RedisError::Command(format!("corrupt job data in Redis: {reason}"))
}

fn parse_ids(ids: &[String]) -> Result<Vec<Uuid>, RedisError> {
    ids.iter()
        .map(|id| Uuid::parse_str(id).map_err(|err| corrupt(format!("job id {id:?}: {err}"))))
        .collect()
}

fn decode_all(replies: Vec<Vec<String>>) -> Result<Vec<JobRecord>, RedisError> {
    replies.into_iter().map(decode).collect()
}

/// A job hash (`HGETALL`'s flat field, value list) as a record.
fn decode(flat: Vec<String>) -> Result<JobRecord, RedisError> {
    let mut fields: HashMap<String, String> = HashMap::with_capacity(flat.len() / 2);
    let mut flat = flat.into_iter();
    while let (Some(field), Some(value)) = (flat.next(), flat.next()) {
        fields.insert(field, value);
    }
    let mut take = |name: &str| fields.remove(name);
    let required = |value: Option<String>, name: &str| {
        value.ok_or_else(|| corrupt(format!("a job hash has no {name}")))
    };
    let number = |value: Option<String>, name: &str| -> Result<i64, RedisError> {
        let raw = required(value, name)?;
        raw.parse()
            .map_err(|_| corrupt(format!("{name} is not a number: {raw:?}")))
    };
    let count = |value: Option<String>, name: &str| -> Result<u32, RedisError> {
        let raw = number(value, name)?;
        u32::try_from(raw).map_err(|_| corrupt(format!("{name} out of range: {raw}")))
    };
    let time = |value: Option<String>, name: &str| -> Result<DateTime<Utc>, RedisError> {
        let ms = number(value, name)?;
        DateTime::from_timestamp_millis(ms).ok_or_else(|| corrupt(format!("{name} out of range")))
    };
    let id = required(take("id"), "id")?;
    let status = required(take("status"), "status")?;
    let finished_at = take("finished_at");
    Ok(JobRecord {
        id: Uuid::parse_str(&id).map_err(|err| corrupt(format!("job id {id:?}: {err}")))?,
        kind: required(take("kind"), "kind")?,
        payload: take("payload").unwrap_or_default(),
        status: status.parse().map_err(corrupt)?,
        attempts: count(take("attempts"), "attempts")?,
        max_attempts: count(take("max_attempts"), "max_attempts")?,
        run_at: time(take("run_at"), "run_at")?,
        last_error: take("last_error"),
        dedupe_key: take("dedupe_key"),
        created_at: time(take("created_at"), "created_at")?,
        finished_at: finished_at
            .map(|raw| time(Some(raw), "finished_at"))
            .transpose()?,
    })
}
