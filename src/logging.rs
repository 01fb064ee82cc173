//! Logging through the `log` facade: to the journal (with structured fields) when
//! started by systemd, to stderr otherwise.
//!
//! Callers put facts in key-value pairs (`client_id`, `subject`, `method`, `jti`,
//! `reason`); the journal gets them as `AHDAPA_*` fields (`AHDAPA_CLIENT_ID`,
//! `AHDAPA_SUBJECT`, `AHDAPA_AUTH_METHOD`, `AHDAPA_SCOPE`, `AHDAPA_JTI`, `AHDAPA_OUTCOME`,
//! `AHDAPA_REASON`, `AHDAPA_REQUEST_ID`, ...; see [`journal_field`]), stderr as
//! `key=value`. Never log a secret, a whole token or an Authorization header: the types
//! that hold them have no `Display`.

use std::io::Write;

use log::kv::{Key, Source, Value, VisitSource};
use log::{LevelFilter, Log, Metadata, Record};

/// Installs the logger once; later calls only adjust the level.
pub fn init(level: LevelFilter) {
    log::set_max_level(level);
    if systemd_journal_logger::connected_to_journal() {
        if let Ok(logger) = systemd_journal_logger::JournalLog::new() {
            let journal = Journal(logger.with_syslog_identifier("ahdapa".into()));
            if log::set_boxed_logger(Box::new(journal)).is_ok() {
                log::set_max_level(level);
                return;
            }
        }
    }
    if log::set_boxed_logger(Box::new(StderrLogger)).is_ok() {
        log::set_max_level(level);
    }
}

/// The journal field for one of our log keys; `None` keeps the key as it is (the journal
/// upper-cases it).
pub fn journal_field(key: &str) -> Option<&'static str> {
    Some(match key {
        "client_id" => "AHDAPA_CLIENT_ID",
        "subject" => "AHDAPA_SUBJECT",
        "method" => "AHDAPA_AUTH_METHOD",
        "scope" => "AHDAPA_SCOPE",
        "jti" => "AHDAPA_JTI",
        "outcome" => "AHDAPA_OUTCOME",
        "reason" => "AHDAPA_REASON",
        "request_id" => "AHDAPA_REQUEST_ID",
        "error" => "AHDAPA_ERROR",
        "principal" => "AHDAPA_PRINCIPAL",
        "audit" => "AHDAPA_AUDIT",
        "admin" => "AHDAPA_ADMIN",
        "via" => "AHDAPA_VIA",
        "changed" => "AHDAPA_CHANGED",
        "kid" => "AHDAPA_KID",
        "peer" => "AHDAPA_PEER",
        "path" => "AHDAPA_PATH",
        "uri" => "AHDAPA_URI",
        "clients" => "AHDAPA_CLIENTS",
        _ => return None,
    })
}

/// systemd-journal-logger with our keys renamed to `AHDAPA_*` fields.
struct Journal(systemd_journal_logger::JournalLog);

impl Log for Journal {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let renamed = Renamed(record.key_values());
        self.0.log(
            &Record::builder()
                .args(*record.args())
                .level(record.level())
                .target(record.target())
                .module_path(record.module_path())
                .file(record.file())
                .line(record.line())
                .key_values(&renamed)
                .build(),
        );
    }

    fn flush(&self) {
        self.0.flush();
    }
}

struct Renamed<'a>(&'a dyn Source);

impl Source for Renamed<'_> {
    fn visit<'kvs>(&'kvs self, visitor: &mut dyn VisitSource<'kvs>) -> Result<(), log::kv::Error> {
        struct Rename<'v, 'kvs>(&'v mut dyn VisitSource<'kvs>);
        impl<'kvs> VisitSource<'kvs> for Rename<'_, 'kvs> {
            fn visit_pair(
                &mut self,
                key: Key<'kvs>,
                value: Value<'kvs>,
            ) -> Result<(), log::kv::Error> {
                let key = journal_field(key.as_str()).map_or(key, Key::from_str);
                self.0.visit_pair(key, value)
            }
        }
        self.0.visit(&mut Rename(visitor))
    }
}

/// `LEVEL message key=value ...` lines on stderr.
struct StderrLogger;

impl Log for StderrLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let mut line = format!("{:<5} {}", record.level(), record.args());
        let mut kv = KvLine(&mut line);
        let _ = record.key_values().visit(&mut kv);
        line.push('\n');
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    fn flush(&self) {
        let _ = std::io::stderr().flush();
    }
}

struct KvLine<'a>(&'a mut String);

impl<'kvs> VisitSource<'kvs> for KvLine<'_> {
    fn visit_pair(&mut self, key: Key<'kvs>, value: Value<'kvs>) -> Result<(), log::kv::Error> {
        use std::fmt::Write as _;
        let text = value.to_string();
        if text.is_empty() || text.contains([' ', '"', '=']) {
            let _ = write!(self.0, " {key}={text:?}");
        } else {
            let _ = write!(self.0, " {key}={text}");
        }
        Ok(())
    }
}
