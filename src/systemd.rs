//! systemd integration (`Type=notify`): READY=1 once the listeners are bound, the store is
//! open and the keys are loaded; WATCHDOG=1 pings from the runtime while it serves;
//! RELOADING=1 (then READY=1) around a SIGHUP reload; STOPPING=1 when a shutdown begins. Without `NOTIFY_SOCKET` (not under systemd) every
//! call does nothing.

use std::time::Duration;

use sd_notify::NotifyState;

/// Tells systemd the service is ready, with a status line for `systemctl status`.
pub fn ready(status: &str) {
    if let Err(e) = sd_notify::notify(false, &[NotifyState::Ready, NotifyState::Status(status)]) {
        log::warn!(reason = e.to_string().as_str(); "cannot notify systemd (READY=1)");
    }
}

/// Tells systemd a reload (SIGHUP) has begun; [`ready`] ends it.
pub fn reloading() {
    let mut states = vec![
        NotifyState::Reloading,
        NotifyState::Status("reloading the configuration"),
    ];
    if let Ok(now) = NotifyState::monotonic_usec_now() {
        states.push(now);
    }
    let _ = sd_notify::notify(false, &states);
}

/// Tells systemd a shutdown has begun.
pub fn stopping() {
    let _ = sd_notify::notify(
        false,
        &[
            NotifyState::Stopping,
            NotifyState::Status("draining requests"),
        ],
    );
}

/// When systemd asked for a watchdog (`WatchdogSec=`), pings it at half the interval from
/// the async runtime, so a wedged runtime stops the pings and systemd restarts ahdapa.
pub fn spawn_watchdog() -> Option<tokio::task::JoinHandle<()>> {
    let mut usec = 0u64;
    if !sd_notify::watchdog_enabled(false, &mut usec) || usec == 0 {
        return None;
    }
    let period = Duration::from_micros(usec / 2);
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        loop {
            tick.tick().await;
            let _ = sd_notify::notify(false, &[NotifyState::Watchdog]);
        }
    }))
}
