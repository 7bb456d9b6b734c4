//! `api create-admin`, `api revoke-admin` and `api delete-user`: the API
//! cannot make or unmake admins, the command line can.

use anyhow::Context as _;
use application::{Error, Services, services::auth::Registration};
use infra::Settings;

/// Creates a new admin account for EMAIL with USERNAME and `ADMIN_PASSWORD`
/// (from the environment, so it stays out of shell history). An existing
/// account is refused: promoting it would hand the role to whoever
/// registered that address first, who may not be the operator.
pub async fn create(settings: &Settings, email: &str, username: &str) -> anyhow::Result<()> {
    let Some(password) = &settings.auth.admin_password else {
        anyhow::bail!("set ADMIN_PASSWORD to the new admin account's password");
    };
    let registration = Registration {
        email: domain::Email::parse(email).context("EMAIL")?,
        username: domain::Username::parse(username).context("USERNAME")?,
        password: domain::Password::parse(password.expose()).context("ADMIN_PASSWORD")?,
    };
    let services = Services::from_settings(settings).await?;
    let admin = match services.users.create_admin(registration).await {
        Err(Error::Conflict { field: "email", .. }) => anyhow::bail!(
            "an account with this email exists already; create-admin only creates new \
             accounts, since whoever registered the address knows its password and may not \
             be you. If it is not yours, remove it with `api delete-user {email}` and run \
             create-admin again; to make it an admin anyway, so that only whoever reads \
             that mailbox can use it, run `api create-admin --promote-existing {email}`"
        ),
        Err(Error::Conflict { field, .. }) => anyhow::bail!("USERNAME: this {field} is taken"),
        other => other?,
    };
    tracing::info!(uuid = %admin.uuid, "admin account created");
    Ok(())
}

/// Makes EMAIL's existing account an admin that only the owner of the
/// mailbox can use: every login ends, the password stops working, and a
/// reset link is mailed to the address (by a worker).
pub async fn promote_existing(settings: &Settings, email: &str) -> anyhow::Result<()> {
    let email = domain::Email::parse(email).context("EMAIL")?;
    let services = Services::from_settings(settings).await?;
    let admin = services.users.promote_existing(&email).await?;
    tracing::info!(
        uuid = %admin.uuid,
        "account promoted to admin; its logins ended and its password no longer works. A \
         reset link is queued for its address: a worker (or the API with JOB_WORKER_IN_API) \
         sends it, and whoever follows it sets the admin's password"
    );
    Ok(())
}

/// Takes the admin role from EMAIL's account.
pub async fn revoke(settings: &Settings, email: &str) -> anyhow::Result<()> {
    let email = domain::Email::parse(email).context("EMAIL")?;
    let services = Services::from_settings(settings).await?;
    let (user, was_admin) = services.users.change_admin(&email, false).await?;
    let what = if was_admin {
        "admin role revoked"
    } else {
        "the account was not an admin"
    };
    tracing::info!(uuid = %user.uuid, "{what}");
    Ok(())
}

/// Deletes EMAIL's account and everything it owns.
pub async fn delete_user(settings: &Settings, email: &str) -> anyhow::Result<()> {
    let email = domain::Email::parse(email).context("EMAIL")?;
    let services = Services::from_settings(settings).await?;
    let user = services.users.delete_by_email(&email).await?;
    tracing::info!(uuid = %user.uuid, "account deleted");
    Ok(())
}
