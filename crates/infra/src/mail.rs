//! Outgoing mail behind one small interface, [`Mailer`], with three
//! implementations chosen by configuration:
//!
//! - [`SmtpMailer`] (`SMTP_URL`): a pooled SMTP client (lettre, rustls);
//! - [`DirMailer`] (`MAIL_DIR`): each message as an `.eml` file, for local
//!   development and tests that read what was sent;
//! - [`LogMailer`] (neither): a log line that a message was not sent, without its body.
//!
//! Mail is only ever sent from background jobs, so a slow or failing mail
//! server delays a job (which is retried), never a request.

use std::{fmt, future::Future, path::PathBuf, pin::Pin, sync::Arc, time::Duration};

use lettre::{
    AsyncSmtpTransport, AsyncTransport as _, Tokio1Executor,
    message::{Mailbox, MultiPart},
};

use crate::config::MailSettings;

/// How long one SMTP exchange may take before it counts as failed.
const SMTP_TIMEOUT: Duration = Duration::from_secs(20);

/// A message to send, with a plain-text and an HTML body of the same
/// content: clients that do not show HTML, or are told not to, show the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    /// The recipient's address (`Name <address>` or bare).
    pub to: String,
    /// The subject line.
    pub subject: String,
    /// Plain text.
    pub text: String,
    /// HTML.
    pub html: String,
}

/// Why a message could not be sent. The message is safe to log, record and
/// store: it never contains credentials, nor a recipient's address (SMTP
/// servers quote it in their replies; [`scrub`] takes it out).
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("invalid address {address:?}: {reason}")]
    Address { address: String, reason: String },
    #[error("could not build the message: {0}")]
    Build(String),
    /// The server may take it later (a transient reply, a network error).
    #[error("SMTP delivery failed: {0}")]
    Smtp(String),
    /// The server refused the recipient for good (`5.1.1 user unknown`):
    /// sending again would fail again.
    #[error("SMTP server refused the recipient: {0}")]
    RecipientRefused(String),
    /// The server refused for good for another reason (authentication,
    /// the sender, relaying): the operator's configuration, which a fix
    /// makes work, so the mail is tried again.
    #[error("SMTP server refused the message: {0}")]
    Refused(String),
    #[error("could not write the message to {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// A boxed future, so that [`Mailer`] can be used as `dyn Mailer`.
pub type MailFuture<'a> = Pin<Box<dyn Future<Output = Result<(), MailError>> + Send + 'a>>;

/// Sends mail. Implement it for another provider (an HTTP API, say) and
/// return it from [`from_settings`].
pub trait Mailer: fmt::Debug + Send + Sync {
    fn send<'a>(&'a self, mail: &'a Mail) -> MailFuture<'a>;
}

/// The mailer the settings ask for.
pub fn from_settings(settings: &MailSettings) -> Result<Arc<dyn Mailer>, MailError> {
    let from = parse_mailbox(&settings.mail_from)?;
    if let Some(url) = &settings.smtp_url {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())
            // lettre's error can quote the URL: say only what it is.
            .map_err(|err| MailError::Smtp(format!("{err} (SMTP_URL {url})")))?
            .timeout(Some(SMTP_TIMEOUT))
            .build();
        return Ok(Arc::new(SmtpMailer { transport, from }));
    }
    if let Some(dir) = &settings.mail_dir {
        return Ok(Arc::new(DirMailer {
            dir: PathBuf::from(dir),
            from,
        }));
    }
    // Production refuses to start without one of the two
    // (`Settings::check`): password reset and verification mails must
    // reach their users. Elsewhere the log is the safe default.
    Ok(Arc::new(LogMailer { from }))
}

/// Parses `Name <address>` or a bare address.
pub fn parse_mailbox(raw: &str) -> Result<Mailbox, MailError> {
    raw.parse()
        .map_err(|err: lettre::address::AddressError| MailError::Address {
            address: raw.to_owned(),
            reason: err.to_string(),
        })
}

fn build(from: &Mailbox, mail: &Mail) -> Result<lettre::Message, MailError> {
    let to = parse_mailbox(&mail.to).map_err(|err| match err {
        MailError::Address { reason, .. } => MailError::Address {
            address: "(the recipient)".to_owned(),
            reason: scrub(&reason),
        },
        other => other,
    })?;
    lettre::Message::builder()
        .from(from.clone())
        .to(to)
        .subject(&mail.subject)
        .multipart(MultiPart::alternative_plain_html(
            mail.text.clone(),
            mail.html.clone(),
        ))
        .map_err(|err| MailError::Build(err.to_string()))
}

/// lettre's error, classified, with every address taken out of the
/// server's reply. lettre does not say which command a reply answered, so
/// a recipient refusal is told by the enhanced status code that starts the
/// reply (RFC 3463: `5.1.1`-`5.1.3`, `5.1.6`, `5.1.10` bad mailbox;
/// `5.2.1`, `5.2.2` mailbox disabled or full) or, from servers without
/// them, by a 550, 551 or 553 that names the recipient, mailbox or user.
/// Policy refusals (`5.7.x`, a blocked host, the sender, relaying,
/// authentication) are the operator's to fix, never the recipient's.
fn smtp_error(err: &lettre::transport::smtp::Error) -> MailError {
    let text = scrub(&err.to_string());
    if !err.is_permanent() {
        return MailError::Smtp(text);
    }
    let code = err.status().map(|code| code.to_string());
    if recipient_refused(code.as_deref(), &text) {
        MailError::RecipientRefused(text)
    } else {
        MailError::Refused(text)
    }
}

/// Whether a permanent refusal with reply `code` and `text` (lettre's:
/// `permanent error (550): <the server's reply>`) is of the recipient.
fn recipient_refused(code: Option<&str>, text: &str) -> bool {
    // The enhanced code, if any, starts the server's reply.
    let reply = text.split_once("): ").map_or(text, |(_, reply)| reply);
    let lower = reply.to_ascii_lowercase();
    let enhanced = lower.split_whitespace().next().unwrap_or("");
    let operator = enhanced.starts_with("5.7.")
        || ["sender", "relay", "auth", "blocked", "policy"]
            .iter()
            .any(|word| lower.contains(word));
    if operator {
        return false;
    }
    let recipient_codes = [
        "5.1.1", "5.1.2", "5.1.3", "5.1.6", "5.1.10", "5.2.1", "5.2.2",
    ];
    let words = [
        "recipient",
        "mailbox",
        "user unknown",
        "unknown user",
        "no such user",
        "unrouteable",
    ];
    recipient_codes.contains(&enhanced)
        || (matches!(code, Some("550" | "551" | "553"))
            && words.iter().any(|word| lower.contains(word)))
}

/// `text` with every word that holds an `@` (an address, bracketed or not)
/// replaced by `<address>`: what is left of an SMTP reply is safe to log.
pub fn scrub(text: &str) -> String {
    let boundary = |c: char| {
        c.is_whitespace()
            || matches!(
                c,
                '<' | '>' | '"' | '\'' | '(' | ')' | ',' | ';' | '[' | ']'
            )
    };
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('@') {
        let start = rest[..at].rfind(boundary).map_or(0, |i| i + 1);
        let end = rest[at..].find(boundary).map_or(rest.len(), |i| at + i);
        out.push_str(&rest[..start]);
        out.push_str("<address>");
        rest = rest[end..].trim_start_matches('>');
        if out.ends_with("<<address>") {
            out.truncate(out.len() - "<<address>".len());
            out.push_str("<address>");
        }
    }
    out.push_str(rest);
    out
}

/// Delivers through an SMTP server.
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl fmt::Debug for SmtpMailer {
    // The transport holds the credentials; keep them out of debug output.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

impl Mailer for SmtpMailer {
    fn send<'a>(&'a self, mail: &'a Mail) -> MailFuture<'a> {
        Box::pin(async move {
            let message = build(&self.from, mail)?;
            self.transport
                .send(message)
                .await
                .map_err(|err| smtp_error(&err))?;
            Ok(())
        })
    }
}

/// Writes each message as an RFC 5322 file (`<time>-<id>.eml`) in a
/// directory, created if missing. A message appears whole or not at all:
/// it is written under a temporary name and renamed.
#[derive(Debug)]
pub struct DirMailer {
    dir: PathBuf,
    from: Mailbox,
}

impl Mailer for DirMailer {
    fn send<'a>(&'a self, mail: &'a Mail) -> MailFuture<'a> {
        Box::pin(async move {
            let message = build(&self.from, mail)?;
            let name = format!(
                "{}-{}",
                chrono::Utc::now().format("%Y%m%dT%H%M%S%.6f"),
                uuid::Uuid::new_v4()
            );
            let partial = self.dir.join(format!(".{name}.partial"));
            let path = self.dir.join(format!("{name}.eml"));
            let write_error = |source| MailError::Write {
                path: path.display().to_string(),
                source,
            };
            tokio::fs::create_dir_all(&self.dir)
                .await
                .map_err(write_error)?;
            tokio::fs::write(&partial, message.formatted())
                .await
                .map_err(write_error)?;
            tokio::fs::rename(&partial, &path)
                .await
                .map_err(write_error)?;
            // No recipient: an address is personal data, and logs (and
            // traces, which take these events) are read by others.
            tracing::info!(subject = %mail.subject, path = %path.display(), "mail written");
            Ok(())
        })
    }
}

/// Logs that a message would be sent, without its body (the development
/// default).
#[derive(Debug)]
pub struct LogMailer {
    from: Mailbox,
}

impl Mailer for LogMailer {
    fn send<'a>(&'a self, mail: &'a Mail) -> MailFuture<'a> {
        Box::pin(async move {
            // Building checks the addresses, as a real send would. Neither
            // the body nor the recipient is logged: mail carries what only
            // its recipient may read (a link with a token), an address is
            // personal data, and logs are read by others.
            build(&self.from, mail)?;
            tracing::info!(
                subject = %mail.subject,
                "mail not sent (its body is not logged): set SMTP_URL to deliver, or MAIL_DIR to \
                 write it to files"
            );
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail() -> Mail {
        Mail {
            to: "ada@example.com".to_owned(),
            subject: "Welcome".to_owned(),
            text: "Hello Ada".to_owned(),
            html: "<p>Hello <b>Ada</b></p>".to_owned(),
        }
    }

    #[tokio::test]
    async fn dir_mailer_writes_one_complete_file_per_message() {
        let dir = std::env::temp_dir().join(format!("mail-test-{}", uuid::Uuid::new_v4()));
        let mailer = DirMailer {
            dir: dir.clone(),
            from: parse_mailbox("App <noreply@example.com>").expect("valid sender"),
        };
        mailer.send(&mail()).await.expect("written");
        let files: Vec<_> = std::fs::read_dir(&dir)
            .expect("dir exists")
            .map(|entry| entry.expect("entry").path())
            .collect();
        assert_eq!(files.len(), 1, "{files:?}");
        let text = std::fs::read_to_string(&files[0]).expect("readable");
        assert!(text.contains("To: ada@example.com"), "{text}");
        assert!(text.contains("Subject: Welcome"), "{text}");
        // Short lines, so neither part is quoted-printable encoded.
        assert!(text.contains("multipart/alternative"), "{text}");
        assert!(text.contains("Content-Type: text/plain"), "{text}");
        assert!(text.contains("Content-Type: text/html"), "{text}");
        assert!(text.contains("Hello Ada"), "{text}");
        assert!(text.contains("<p>Hello <b>Ada</b></p>"), "{text}");
        std::fs::remove_dir_all(dir).expect("cleaned up");
    }

    #[test]
    fn permanent_refusals_tell_a_bad_recipient_from_a_bad_configuration() {
        let refused = |reply: &str| {
            recipient_refused(Some("550"), &format!("permanent error (550): {reply}"))
        };
        for reply in [
            "5.1.1 <address>: Recipient address rejected",
            "Unknown user",
            "Unrouteable address",
            "5.2.2 mailbox full",
        ] {
            assert!(refused(reply), "{reply}");
        }
        for reply in [
            "5.7.1 Client host [35.2.1.14] blocked",
            "Client host [192.5.1.1] blocked",
            "5.7.1 <address>: Relay access denied",
            "Sender address rejected: not owned by user",
            "5.5.1 Authentication required",
        ] {
            assert!(!refused(reply), "{reply}");
        }
    }

    #[test]
    fn replies_lose_every_address() {
        assert_eq!(
            scrub(
                "permanent error (550): 5.1.1 <bounce.me@example.com>: Recipient address rejected"
            ),
            "permanent error (550): 5.1.1 <address>: Recipient address rejected"
        );
        assert_eq!(
            scrub("to a@b.example, c@d.example."),
            "to <address>, <address>"
        );
        assert_eq!(scrub("no address here"), "no address here");
    }

    #[tokio::test]
    async fn a_bad_recipient_is_an_error_not_a_silent_drop() {
        let mailer = LogMailer {
            from: parse_mailbox("noreply@example.com").expect("valid sender"),
        };
        let bad = Mail {
            to: "not an address".to_owned(),
            ..mail()
        };
        assert!(matches!(
            mailer.send(&bad).await,
            Err(MailError::Address { .. })
        ));
    }

    #[tokio::test]
    async fn an_unreachable_smtp_server_fails_the_send() {
        // Port 9 (discard) is closed on this machine and in CI.
        let settings =
            crate::Settings::from_vars([("SMTP_URL", "smtp://127.0.0.1:9")]).expect("valid");
        let mailer = from_settings(&settings.mail).expect("built");
        assert!(matches!(
            mailer.send(&mail()).await,
            Err(MailError::Smtp(_))
        ));
    }
}
