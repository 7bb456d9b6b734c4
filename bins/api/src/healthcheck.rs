//! `api healthcheck`: the container's health check, asking this instance's
//! readiness ([`infra::probe`]).

use std::time::Duration;

use anyhow::Context as _;
use infra::Settings;

/// Longer than readiness's own two-second check of each dependency, well
/// inside an orchestrator's usual probe timeout.
const TIMEOUT: Duration = Duration::from_secs(3);

/// `Ok` when `GET /v1/monitoring/ready` on `PORT` answers 200 within
/// [`TIMEOUT`]; otherwise why not.
pub fn check(settings: &Settings) -> anyhow::Result<()> {
    let address = infra::probe::own_address(settings.http.ip(), settings.http.port);
    let url = format!("http://{address}/v1/monitoring/ready");
    let (status, _) = infra::probe::get(address, "/v1/monitoring/ready", TIMEOUT)
        .with_context(|| format!("no answer from {url}"))?;
    if status.split(' ').nth(1) != Some("200") {
        anyhow::bail!("{url} answered {:?}", status.trim());
    }
    Ok(())
}
