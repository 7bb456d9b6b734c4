//! Reference points for `just bench`, built and run in the same session as
//! the product so ratios compare like with like:
//!
//! - `reference serve ADDR DATABASE_URL`: `GET /health` returns the same
//!   JSON as the product's health endpoint with no middleware at all, and
//!   `GET /users/{id}` does the primary-key select `/v1/users/me` does,
//!   with bare sqlx, and answers the same JSON. `GET /tasks?author=ID` is
//!   the task list as one handler (a page of the author's tasks in id
//!   order, then their count, in `X-Total-Count`), and `POST
//!   /tasks?author=ID` the task insert, each answering the product's JSON.
//! - `reference hashrate SECONDS`: how many password verifications per
//!   second the product's argon2id parameters allow on this machine, using
//!   the product's own hasher on every core.
//! - `reference probe URL RATE SECONDS`: latency of a light, steady load
//!   (for health beside login).
//!
//! Not part of the product: nothing depends on it.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::Context as _;
use serde::{Deserialize, Serialize};

#[derive(Serialize)]
struct Health {
    version: &'static str,
    status: &'static str,
}

#[derive(Serialize)]
struct UserJson {
    email: String,
    username: String,
    uuid: uuid::Uuid,
}

/// A task as `GET /v1/tasks/` answers it.
#[derive(Serialize, sqlx::FromRow)]
struct TaskJson {
    title: String,
    description: String,
    is_completed: bool,
    uuid: uuid::Uuid,
}

#[derive(Deserialize)]
struct Author {
    author: i64,
}

#[derive(Deserialize)]
struct NewTask {
    title: String,
    description: String,
}

#[derive(Clone)]
enum Pool {
    Postgres(sqlx::PgPool),
    Sqlite(sqlx::SqlitePool),
}

async fn health() -> HttpResponse {
    HttpResponse::Ok().json(Health {
        version: env!("CARGO_PKG_VERSION"),
        status: "Healthy",
    })
}

async fn user(pool: web::Data<Pool>, id: web::Path<i64>) -> HttpResponse {
    const SQL_PG: &str = "SELECT email, username, uuid FROM users WHERE id = $1";
    const SQL_SQLITE: &str = "SELECT email, username, uuid FROM users WHERE id = ?";
    let id = id.into_inner();
    let row: Result<Option<(String, String, uuid::Uuid)>, sqlx::Error> = match pool.get_ref() {
        Pool::Postgres(pool) => sqlx::query_as(SQL_PG).bind(id).fetch_optional(pool).await,
        Pool::Sqlite(pool) => {
            sqlx::query_as(SQL_SQLITE)
                .bind(id)
                .fetch_optional(pool)
                .await
        }
    };
    match row {
        Ok(Some((email, username, uuid))) => HttpResponse::Ok().json(UserJson {
            email,
            username,
            uuid,
        }),
        Ok(None) => HttpResponse::NotFound().finish(),
        Err(_) => HttpResponse::InternalServerError().finish(),
    }
}

async fn tasks(pool: web::Data<Pool>, author: web::Query<Author>) -> HttpResponse {
    const PAGE: &str = "SELECT title, description, is_completed, uuid FROM tasks \
        WHERE task_author_id = $1 ORDER BY id LIMIT 100 OFFSET 0";
    const COUNT: &str = "SELECT COUNT(*) FROM tasks WHERE task_author_id = $1";
    let author = author.author;
    macro_rules! page_and_count {
        ($pool:expr) => {
            async {
                let page = sqlx::query_as(PAGE).bind(author).fetch_all($pool).await?;
                let count = sqlx::query_as(COUNT).bind(author).fetch_one($pool).await?;
                Ok::<_, sqlx::Error>((page, count))
            }
            .await
        };
    }
    // SQLite numbers `$1` like `?1`: the same text serves both pools.
    let result: Result<(Vec<TaskJson>, (i64,)), sqlx::Error> = match pool.get_ref() {
        Pool::Postgres(pool) => page_and_count!(pool),
        Pool::Sqlite(pool) => page_and_count!(pool),
    };
    match result {
        Ok((page, (count,))) => HttpResponse::Ok()
            .insert_header(("X-Total-Count", count.to_string()))
            .json(page),
        Err(_) => HttpResponse::InternalServerError().finish(),
    }
}

async fn create_task(
    pool: web::Data<Pool>,
    author: web::Query<Author>,
    body: web::Json<NewTask>,
) -> HttpResponse {
    const INSERT: &str = "INSERT INTO tasks \
        (uuid, title, description, is_completed, task_author_id, created_at, updated_at) \
        VALUES ($1, $2, $3, $4, $5, $6, $7)";
    let NewTask { title, description } = body.into_inner();
    let uuid = uuid::Uuid::new_v4();
    let now = chrono::Utc::now();
    // One statement for both pools (SQLite numbers `$1` like `?1`); the
    // macro only saves writing the binds twice.
    macro_rules! insert {
        ($pool:expr) => {
            sqlx::query(INSERT)
                .bind(uuid)
                .bind(&title)
                .bind(&description)
                .bind(false)
                .bind(author.author)
                .bind(now)
                .bind(now)
                .execute($pool)
                .await
                .map(|_| ())
        };
    }
    let result = match pool.get_ref() {
        Pool::Postgres(pool) => insert!(pool),
        Pool::Sqlite(pool) => insert!(pool),
    };
    match result {
        Ok(()) => HttpResponse::Created().json(TaskJson {
            title,
            description,
            is_completed: false,
            uuid,
        }),
        Err(_) => HttpResponse::InternalServerError().finish(),
    }
}

async fn serve(address: &str, database_url: &str, connections: u32) -> anyhow::Result<()> {
    let pool = if database_url.starts_with("sqlite:") {
        Pool::Sqlite(
            sqlx::sqlite::SqlitePoolOptions::new()
                .max_connections(connections)
                .connect(database_url)
                .await?,
        )
    } else {
        Pool::Postgres(
            sqlx::postgres::PgPoolOptions::new()
                .max_connections(connections)
                .connect(database_url)
                .await?,
        )
    };
    let pool = web::Data::new(pool);
    HttpServer::new(move || {
        App::new()
            .app_data(pool.clone())
            .route("/health", web::get().to(health))
            .route("/users/{id}", web::get().to(user))
            .route("/tasks", web::get().to(tasks))
            .route("/tasks", web::post().to(create_task))
    })
    .bind(address)?
    .run()
    .await?;
    Ok(())
}

async fn hashrate(seconds: u64) -> anyhow::Result<()> {
    let hasher = application::security::password::PasswordHasher::new().await?;
    let password =
        domain::Password::parse("Str0ng!pass").map_err(|err| anyhow::anyhow!("{err}"))?;
    let hash = hasher.hash(&password).await?;
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    // Twice the cores in flight keeps every core busy, as login load does.
    let mut tasks = Vec::new();
    for _ in 0..cores * 2 {
        let (hasher, hash, done) = (hasher.clone(), hash.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let ok = hasher
                    .verify(
                        "Str0ng!pass".to_owned(),
                        Some(hash.clone()),
                        application::Admission::Trusted,
                    )
                    .await;
                assert!(matches!(ok, Ok(true)), "the probe's own hash verifies");
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let started = Instant::now();
    for task in tasks {
        task.await?;
    }
    #[allow(clippy::cast_precision_loss)] // Counts far below 2^52.
    let rate = done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
    println!("{rate:.1}");
    Ok(())
}

/// Sends `GET url` `rate` times a second for `seconds` over one keep-alive
/// connection and prints `{"p50":ms,"p99":ms,"count":n,"errors":n}`. A light,
/// steady load, for measuring latency beside a heavy one (wrk at full speed
/// would itself take the CPU the measurement is about).
async fn probe(url: &str, rate: u32, seconds: u64) -> anyhow::Result<()> {
    use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _};
    let rest = url
        .strip_prefix("http://")
        .context("URL must start with http://")?;
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n");
    let stream = tokio::net::TcpStream::connect(host).await?;
    stream.set_nodelay(true)?;
    let mut stream = tokio::io::BufReader::new(stream);
    let mut latencies = Vec::new();
    let mut errors = 0u64;
    let mut ticker = tokio::time::interval(Duration::from_secs(1) / rate.max(1));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < deadline {
        ticker.tick().await;
        let started = Instant::now();
        stream.get_mut().write_all(request.as_bytes()).await?;
        let mut status = String::new();
        stream.read_line(&mut status).await?;
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            stream.read_line(&mut line).await?;
            if line == "\r\n" || line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse()?;
            }
        }
        let mut body = vec![0; length];
        stream.read_exact(&mut body).await?;
        if !status.contains(" 200 ") {
            errors += 1;
        }
        latencies.push(started.elapsed());
    }
    latencies.sort();
    let at = |q: f64| {
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let index = ((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1));
        latencies
            .get(index)
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    println!(
        "{}",
        serde_json::json!({"p50": at(0.50), "p99": at(0.99), "count": latencies.len(), "errors": errors})
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["serve", address, database_url] => serve(address, database_url, 10).await,
        ["hashrate", seconds] => hashrate(seconds.parse().context("SECONDS")?).await,
        ["probe", url, rate, seconds] => {
            probe(
                url,
                rate.parse().context("RATE")?,
                seconds.parse().context("SECONDS")?,
            )
            .await
        }
        _ => anyhow::bail!(
            "usage: reference serve ADDR DATABASE_URL | hashrate SECONDS | probe URL RATE SECONDS"
        ),
    }
}
