//! Reading delivered mail the way a mail client would: MIME parts split,
//! quoted-printable and base64 decoded (by `mail-parser`), so tests assert
//! on what the user reads, not on how lettre chose to encode it.

use std::path::Path;

use mail_parser::MessageParser;

/// A delivered message, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// The first recipient's address.
    pub to: String,
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// The HTML body.
    pub html: String,
}

/// Every message in a `MAIL_DIR` directory (`*.eml`), oldest first (file
/// names start with a timestamp). Empty if the directory does not exist.
pub fn read_dir(dir: &Path) -> Vec<Delivered> {
    // Only `.eml`: a message being written is a hidden `.partial` file.
    let mut files: Vec<_> = crate::files_in(dir)
        .into_iter()
        .filter(|path| path.extension().is_some_and(|ext| ext == "eml"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|path| {
            let raw = std::fs::read(path)
                .unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()));
            parse(&raw)
        })
        .collect()
}

/// Decodes one raw RFC 5322 message (also what
/// [`crate::smtp::SmtpServer::received`] returns), bodies with `\n` line
/// ends.
pub fn parse(raw: &[u8]) -> Delivered {
    let message = MessageParser::default()
        .parse(raw)
        .unwrap_or_else(|| panic!("not a message: {}", String::from_utf8_lossy(raw)));
    let to = message
        .to()
        .and_then(|to| to.first())
        .and_then(|addr| addr.address())
        .unwrap_or_default()
        .to_owned();
    // Line ends as the templates wrote them: on the wire (and in a
    // `MAIL_DIR` file) every line ends in CRLF.
    let body =
        |part: Option<std::borrow::Cow<'_, str>>| part.unwrap_or_default().replace("\r\n", "\n");
    Delivered {
        to,
        subject: message.subject().unwrap_or_default().to_owned(),
        text: body(message.body_text(0)),
        html: body(message.body_html(0)),
    }
}

/// The `token` query parameter of the first link to `{base}{path}?token=`
/// in `body`, `path` with its leading slash (`"/verify-email"`). Tokens are
/// URL-safe base64, so the token ends at the first other character.
pub fn token_in(body: &str, path: &str) -> Option<String> {
    let marker = format!("{path}?token=");
    let start = body.find(&marker)? + marker.len();
    let token: String = body[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    Some(token).filter(|token| !token.is_empty())
}

#[cfg(test)]
mod tests {
    use infra::mail::{Mail, Mailer};

    use super::*;

    const TOKEN: &str = "aB_-9aB_-9aB_-9aB_-9aB_-9aB_-9aB_-9aB_-9aB_-9aB_-9aB_-9aB_-9";

    /// Longer lines than SMTP allows, `=`, non-ASCII text and a line that
    /// starts with a dot: sent quoted-printable and dot-stuffed, so that
    /// getting it back exactly proves the decoding.
    fn mail() -> Mail {
        let link = format!("https://app.example.com/reset-password?token={TOKEN}");
        Mail {
            to: "ada@example.com".to_owned(),
            subject: "Reset your password".to_owned(),
            text: format!("Héllo Ada,\n\n.a line that starts with a dot\n{link}\n"),
            html: format!("<p>Héllo <b>Ada</b></p>\n.<p><a href=\"{link}\">{link}</a></p>"),
        }
    }

    fn mailer(variable: &str, value: &str) -> std::sync::Arc<dyn Mailer> {
        let settings = infra::Settings::from_vars([(variable, value)]).unwrap();
        infra::mail::from_settings(&settings.mail).unwrap()
    }

    fn assert_exact(delivered: &Delivered) {
        let sent = mail();
        assert_eq!(delivered.to, sent.to);
        assert_eq!(delivered.subject, sent.subject);
        assert_eq!(delivered.text, sent.text);
        assert_eq!(delivered.html, sent.html);
        for body in [&delivered.text, &delivered.html] {
            assert_eq!(token_in(body, "/reset-password").as_deref(), Some(TOKEN));
            assert_eq!(token_in(body, "/verify-email"), None);
        }
    }

    #[tokio::test]
    async fn mail_dir_messages_decode_back_exactly_in_order() {
        let dir = crate::scratch_dir("mail-parse");
        let mailer = mailer("MAIL_DIR", dir.to_str().unwrap());
        mailer.send(&mail()).await.unwrap();
        let second = Mail {
            subject: "Second".to_owned(),
            ..mail()
        };
        mailer.send(&second).await.unwrap();

        let raw = std::fs::read_to_string(&crate::files_in(&dir)[0]).unwrap();
        assert!(raw.contains("quoted-printable"), "{raw}");
        let delivered = read_dir(&dir);
        assert_eq!(delivered.len(), 2);
        assert_exact(&delivered[0]);
        assert_eq!(delivered[1].subject, "Second");
        assert!(read_dir(&dir.join("missing")).is_empty());
        std::fs::remove_dir_all(dir).ok();
    }

    #[tokio::test]
    async fn smtp_messages_decode_back_exactly() {
        let server = crate::smtp::SmtpServer::start_held().await;
        server.release();
        let mailer = mailer("SMTP_URL", &format!("smtp://127.0.0.1:{}", server.port));
        mailer.send(&mail()).await.unwrap();
        let received = server.received();
        assert_eq!(received.len(), 1);
        assert_exact(&parse(received[0].as_bytes()));
    }
}
