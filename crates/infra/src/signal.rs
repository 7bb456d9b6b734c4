//! The process's stop signal, shared by the API and the worker.

use std::future::Future;

/// A future that resolves on the first SIGINT or SIGTERM. The handlers are
/// installed before this returns, not when the future is first polled: a
/// signal that arrives while the process is still starting must not kill
/// it with the default action.
pub fn shutdown_signal() -> std::io::Result<impl Future<Output = ()> + Send + 'static> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        Ok(async move {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = interrupt.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}
