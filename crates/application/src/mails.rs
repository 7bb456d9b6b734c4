//! Every mail the product sends, rendered from the templates in
//! `templates/mail/`: one plain-text and one HTML file per mail, the HTML
//! ones extending `layout.html`.
//!
//! askama compiles the templates into the binary, so a template that does
//! not match its fields fails the build, not a job, and the image ships no
//! template files. The `.html` templates escape what they print; the
//! `.txt` ones print it as is.

use askama::Template;
use domain::Email;
use infra::{
    config::{AuthSettings, MailSettings},
    mail::Mail,
};

/// Renders every mail the product sends.
#[derive(Debug, Clone)]
pub struct MailTemplates {
    /// `PRODUCT_NAME`: how mails name the product.
    product_name: String,
    /// `PUBLIC_BASE_URL`, without a trailing slash (settings strip it):
    /// where the links in mails point.
    public_base_url: String,
    /// How long a verification link works, in words ("48 hours").
    verify_expires: String,
    /// How long a reset link works, in words ("30 minutes").
    reset_expires: String,
}

/// What the templates print. One set of fields for all of them keeps each
/// mail to two template files and a method.
#[derive(Debug)]
struct Fields<'a> {
    product: &'a str,
    username: &'a str,
    /// The link the mail is about, if any.
    link: Option<String>,
    /// How long the link works, in words, where the mail says so.
    expires: &'a str,
}

/// A text and an HTML template over the same [`Fields`].
macro_rules! template_pair {
    ($($text:ident = $text_path:tt, $html:ident = $html_path:tt;)*) => {$(
        #[derive(Template)]
        #[template(path = $text_path)]
        struct $text<'a> {
            m: &'a Fields<'a>,
        }

        #[derive(Template)]
        #[template(path = $html_path)]
        struct $html<'a> {
            m: &'a Fields<'a>,
        }
    )*};
}

template_pair! {
    WelcomeText = "mail/welcome.txt", WelcomeHtml = "mail/welcome.html";
    VerifyEmailText = "mail/verify_email.txt", VerifyEmailHtml = "mail/verify_email.html";
    PasswordResetText = "mail/password_reset.txt", PasswordResetHtml = "mail/password_reset.html";
    EmailChangeText = "mail/email_change.txt", EmailChangeHtml = "mail/email_change.html";
}

impl MailTemplates {
    /// Templates naming the product and linking to the front end as the
    /// mail settings say, with the links' lifetimes the auth settings give.
    pub fn new(settings: &MailSettings, auth: &AuthSettings) -> Self {
        Self {
            product_name: settings.product_name.clone(),
            // Settings already strip it; trimming again keeps links right
            // for settings built by hand.
            public_base_url: settings.public_base_url.trim_end_matches('/').to_owned(),
            verify_expires: in_words(auth.email_verification_expire_hours, "hour"),
            reset_expires: in_words(auth.password_reset_expire_minutes, "minute"),
        }
    }

    /// The welcome mail of a new account; with a verification token, it
    /// also asks to confirm the address (`None` leaves that out).
    pub fn welcome(&self, to: &Email, username: &str, verify_token: Option<&str>) -> Mail {
        let m = Fields {
            link: verify_token.map(|token| self.link("verify-email", Some(token))),
            expires: &self.verify_expires,
            ..self.fields(username)
        };
        mail(
            to,
            format!("Welcome to {}", self.product_name),
            &WelcomeText { m: &m },
            &WelcomeHtml { m: &m },
        )
    }

    /// Asks to confirm an address (after a change of address, or when the
    /// user asks for the link again).
    pub fn verify_email(&self, to: &Email, username: &str, token: &str) -> Mail {
        let m = Fields {
            link: Some(self.link("verify-email", Some(token))),
            expires: &self.verify_expires,
            ..self.fields(username)
        };
        mail(
            to,
            "Confirm your email address".to_owned(),
            &VerifyEmailText { m: &m },
            &VerifyEmailHtml { m: &m },
        )
    }

    /// The password reset link.
    pub fn password_reset(&self, to: &Email, username: &str, token: &str) -> Mail {
        let m = Fields {
            link: Some(self.link("reset-password", Some(token))),
            expires: &self.reset_expires,
            ..self.fields(username)
        };
        mail(
            to,
            "Reset your password".to_owned(),
            &PasswordResetText { m: &m },
            &PasswordResetHtml { m: &m },
        )
    }

    /// Tells the old address that a change of address was asked for, so
    /// that the owner of a taken-over account learns of it while the
    /// account is still theirs.
    pub fn email_change_notice(&self, to: &Email, username: &str) -> Mail {
        let m = Fields {
            link: Some(self.link("reset-password", None)),
            ..self.fields(username)
        };
        mail(
            to,
            "Your email address is being changed".to_owned(),
            &EmailChangeText { m: &m },
            &EmailChangeHtml { m: &m },
        )
    }

    fn fields<'a>(&'a self, username: &'a str) -> Fields<'a> {
        Fields {
            product: &self.product_name,
            username,
            link: None,
            expires: "",
        }
    }

    /// `{base}/{page}?token={token}`. Tokens are URL-safe base64 without
    /// padding, so they need no escaping here.
    fn link(&self, page: &str, token: Option<&str>) -> String {
        match token {
            Some(token) => format!("{}/{page}?token={token}", self.public_base_url),
            None => format!("{}/{page}", self.public_base_url),
        }
    }
}

/// `48 hours`, `1 minute`.
fn in_words(count: u32, unit: &str) -> String {
    match count {
        1 => format!("1 {unit}"),
        _ => format!("{count} {unit}s"),
    }
}

/// A mail of both bodies.
fn mail(to: &Email, subject: String, text: &dyn Render, html: &dyn Render) -> Mail {
    Mail {
        to: to.as_str().to_owned(),
        text: text.render_or_log(&subject),
        html: html.render_or_log(&subject),
        subject,
    }
}

/// Rendering that cannot fail in practice: the templates are fixed at
/// compile time and only print strings and numbers, whose `Display` does
/// not fail. Should it fail anyway, the mail goes out with what its subject
/// says rather than the job panicking, and the error is logged.
trait Render {
    fn render_or_log(&self, subject: &str) -> String;
}

impl<T: Template> Render for T {
    fn render_or_log(&self, subject: &str) -> String {
        self.render().unwrap_or_else(|err| {
            tracing::error!(error = %err, subject, "mail template failed to render");
            subject.to_owned()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn templates() -> MailTemplates {
        let settings = infra::Settings::from_vars([
            ("PUBLIC_BASE_URL", "https://app.example.com/"),
            ("PRODUCT_NAME", "Acme"),
        ])
        .expect("valid settings");
        MailTemplates::new(&settings.mail, &settings.auth)
    }

    fn ada() -> Email {
        Email::parse("ada@example.com").expect("valid address")
    }

    #[test]
    fn links_are_in_both_bodies() {
        let t = templates();
        let verify = "https://app.example.com/verify-email?token=abc-_123";
        let reset = "https://app.example.com/reset-password?token=xyz";
        for (mail, link) in [
            (t.welcome(&ada(), "ada", Some("abc-_123")), verify),
            (t.verify_email(&ada(), "ada", "abc-_123"), verify),
            (t.password_reset(&ada(), "ada", "xyz"), reset),
            (
                t.email_change_notice(&ada(), "ada"),
                "https://app.example.com/reset-password",
            ),
        ] {
            assert_eq!(mail.to, "ada@example.com");
            assert!(mail.text.contains(link), "{}", mail.text);
            assert!(
                mail.html.contains(&format!("href=\"{link}\"")),
                "{}",
                mail.html
            );
            assert!(mail.text.contains("Hello ada,"), "{}", mail.text);
        }
    }

    #[test]
    fn subjects_name_the_product_where_they_should() {
        let t = templates();
        assert_eq!(t.welcome(&ada(), "ada", None).subject, "Welcome to Acme");
        assert_eq!(
            t.verify_email(&ada(), "ada", "t").subject,
            "Confirm your email address"
        );
        assert_eq!(
            t.password_reset(&ada(), "ada", "t").subject,
            "Reset your password"
        );
        assert_eq!(
            t.email_change_notice(&ada(), "ada").subject,
            "Your email address is being changed"
        );
    }

    #[test]
    fn usernames_are_escaped_in_html_only() {
        let mail = templates().verify_email(&ada(), "<b>", "t");
        assert!(!mail.html.contains("<b>"), "{}", mail.html);
        assert!(mail.html.contains("&#60;b&#62;"), "{}", mail.html);
        assert!(mail.text.contains("Hello <b>,"), "{}", mail.text);
    }

    #[test]
    fn links_say_when_they_expire_and_that_they_can_be_ignored() {
        let settings = infra::Settings::from_vars([
            ("PASSWORD_RESET_EXPIRE_MINUTES", "45"),
            ("EMAIL_VERIFICATION_EXPIRE_HOURS", "1"),
        ])
        .expect("valid settings");
        let t = MailTemplates::new(&settings.mail, &settings.auth);
        for (mail, expiry) in [
            (
                t.password_reset(&ada(), "ada", "t"),
                "expires in 45 minutes",
            ),
            (t.verify_email(&ada(), "ada", "t"), "expires in 1 hour"),
            (t.welcome(&ada(), "ada", Some("t")), "expires in 1 hour"),
        ] {
            for body in [&mail.text, &mail.html] {
                assert!(body.contains(expiry), "{body}");
            }
        }
        let reset = t.password_reset(&ada(), "ada", "t");
        for body in [&reset.text, &reset.html] {
            assert!(body.contains("you can ignore this mail"), "{body}");
        }
    }

    #[test]
    fn a_welcome_without_a_token_has_no_link() {
        let mail = templates().welcome(&ada(), "ada", None);
        for body in [&mail.text, &mail.html] {
            assert!(!body.contains("verify-email"), "{body}");
            assert!(!body.contains("href"), "{body}");
            assert!(body.contains("Acme"), "{body}");
        }
    }
}
