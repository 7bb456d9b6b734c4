//! `api create-admin` and `api revoke-admin`: the API cannot make or
//! unmake admins, the command line can.

use anyhow::Context as _;
use application::Services;
use infra::Settings;

/// Grants the admin role to EMAIL's account, creating it with USERNAME and
/// `ADMIN_PASSWORD` (from the environment, so it stays out of shell
/// history) if there is none.
pub async fn create(settings: &Settings, email: &str, username: &str) -> anyhow::Result<()> {
    let email = domain::Email::parse(email).context("EMAIL")?;
    let new_account = match &settings.auth.admin_password {
        Some(password) => Some((
            domain::Username::parse(username).context("USERNAME")?,
            domain::Password::parse(password.expose()).context("ADMIN_PASSWORD")?,
        )),
        None => None,
    };
    let services = Services::from_settings(settings).await?;
    let (admin, created) = match services.users.create_admin(email, new_account).await {
        Err(application::Error::NotFound { .. }) => anyhow::bail!(
            "no account has this email; set ADMIN_PASSWORD to create one with USERNAME"
        ),
        other => other?,
    };
    let what = if created {
        "admin account created"
    } else {
        "existing account is now an admin"
    };
    tracing::info!(uuid = %admin.uuid, email = %admin.email, "{what}");
    Ok(())
}

/// Takes the admin role from EMAIL's account.
pub async fn revoke(settings: &Settings, email: &str) -> anyhow::Result<()> {
    let email = domain::Email::parse(email).context("EMAIL")?;
    let services = Services::from_settings(settings).await?;
    let (user, was_admin) = services.users.revoke_admin(&email).await?;
    let what = if was_admin {
        "admin role revoked"
    } else {
        "the account was not an admin"
    };
    tracing::info!(uuid = %user.uuid, email = %user.email, "{what}");
    Ok(())
}
