//! systemd integration (`Type=notify`): READY=1 once the listeners are bound, the store is
//! open and the keys are loaded; WATCHDOG=1 pings from the runtime while it serves;
//! RELOADING=1 (then READY=1) around a SIGHUP reload, and its outcome in the runtime
//! directory for `ahdapa reload`; STOPPING=1 when a shutdown begins. Without
//! `NOTIFY_SOCKET` (not under systemd) every call does nothing.

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

/// The file in `$RUNTIME_DIRECTORY` (the unit's `RuntimeDirectory=ahdapa`) where the
/// serving process records each reload's outcome as `PID GENERATION OUTCOME`, so that
/// `ahdapa reload` (the unit's `ExecReload=`) returns only once the reload is done, and
/// fails when it was refused. systemd 252 (Debian 12) waits for READY=1 after a reload
/// only when RELOADING=1 arrives before `ExecReload=` exits, which a bare `kill -HUP`
/// does not wait for.
fn reload_status_path() -> Option<std::path::PathBuf> {
    let dirs = crate::clock::env_var("RUNTIME_DIRECTORY")?;
    let first = dirs.split(':').next().filter(|d| !d.is_empty())?;
    Some(std::path::Path::new(first).join("reload"))
}

/// Records that reload number `generation` (from 1) of this process has begun.
pub fn reload_started(generation: u64) {
    write_reload_status(generation, "started");
}

/// Records the outcome of reload number `generation` of this process; without a runtime
/// directory it does nothing.
pub fn reloaded(generation: u64, ok: bool) {
    write_reload_status(generation, if ok { "ok" } else { "refused" });
}

fn write_reload_status(generation: u64, state: &str) {
    let Some(path) = reload_status_path() else {
        return;
    };
    let text = format!("{} {generation} {state}\n", std::process::id());
    // Written aside and renamed: a reader sees the old line or the new one, never half.
    let partial = path.with_extension("new");
    let written = std::fs::write(&partial, text).and_then(|()| std::fs::rename(&partial, &path));
    if let Err(e) = written {
        log::warn!(path = path.display().to_string().as_str(), reason = e.to_string().as_str(); "cannot record the reload state");
    }
}

/// One line of the reload status file: the process, its reload number and its state.
fn parse_status(text: &str) -> Option<(u32, u64, &str)> {
    let mut fields = text.split_whitespace();
    let pid = fields.next()?.parse().ok()?;
    let generation = fields.next()?.parse().ok()?;
    Some((pid, generation, fields.next()?))
}

/// How `ahdapa reload` ended.
#[derive(Debug, PartialEq, Eq)]
pub enum ReloadOutcome {
    /// The process reloaded.
    Reloaded,
    /// It refused the new configuration; the old one keeps serving.
    Refused,
    /// SIGHUP was sent, but there is no runtime directory to learn the outcome from.
    Sent,
}

/// `ahdapa reload --pid PID`: sends SIGHUP to the serving process and, under systemd
/// (`$RUNTIME_DIRECTORY`), waits until it has recorded the outcome of a reload that
/// began after the signal (not of one already running when it was sent).
pub fn reload(pid: u32, timeout: Duration) -> Result<ReloadOutcome, String> {
    if pid <= 1 {
        return Err(format!("--pid {pid} is not a server process"));
    }
    let path = reload_status_path();
    let before = path
        .as_ref()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .and_then(|t| parse_status(&t).and_then(|(p, g, _)| (p == pid).then_some(g)));
    // The reload this signal causes is the next one: a signal that arrives while reload N
    // runs is taken once N is done, as N + 1.
    let wanted = before.map_or(1, |generation| generation + 1);
    // The shell's own kill: /bin/sh is on every system, a kill program is not.
    let sent = std::process::Command::new("/bin/sh")
        .args(["-c", "kill -HUP \"$1\"", "sh", &pid.to_string()])
        .status()
        .map_err(|e| format!("cannot run /bin/sh: {e}"))?;
    if !sent.success() {
        return Err(format!("cannot signal process {pid}"));
    }
    let Some(path) = path else {
        return Ok(ReloadOutcome::Sent);
    };
    let deadline = crate::clock::monotonic() + timeout;
    loop {
        if let Some(text) = std::fs::read_to_string(&path).ok()
            && let Some((p, generation, state)) = parse_status(&text)
            && p == pid
            && generation >= wanted
            && state != "started"
        {
            return Ok(if state == "ok" {
                ReloadOutcome::Reloaded
            } else {
                ReloadOutcome::Refused
            });
        }
        if crate::clock::monotonic() >= deadline {
            return Err(format!(
                "process {pid} did not report the reload within {} s",
                timeout.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_parse_and_bad_pids_are_refused() {
        assert_eq!(parse_status("42 3 ok\n"), Some((42, 3, "ok")));
        assert_eq!(parse_status("42 3"), None);
        assert_eq!(parse_status("x 3 ok"), None);
        assert!(reload(0, Duration::from_secs(1)).is_err());
        assert!(reload(1, Duration::from_secs(1)).is_err());
    }
}
