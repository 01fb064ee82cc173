//! Logging through the `log` facade: to the journal (with structured fields) when
//! started by systemd, to stderr otherwise.
//!
//! Callers put facts in key-value pairs (`client_id`, `subject`, `method`, `jti`,
//! `reason`); the journal gets them as `AHDAPA_*` fields (`AHDAPA_CLIENT_ID`,
//! `AHDAPA_SUBJECT`, `AHDAPA_AUTH_METHOD`, `AHDAPA_SCOPE`, `AHDAPA_JTI`, `AHDAPA_OUTCOME`,
//! `AHDAPA_REASON`, `AHDAPA_REQUEST_ID`, ...; see [`journal_field`]), stderr as
//! `key=value`. Never log a secret, a whole token or an Authorization header: the types
//! that hold them have no `Display`.
//!
//! Values (and messages) may carry what a request sent. So that no request can forge a
//! log line or a field, both backends escape control characters (`\n`, `\t`, `\u{1b}`,
//! ...) and backslashes in every value and message; on stderr a value is quoted when it
//! is empty or holds a space, `"`, `=`, `\` or anything escaped.

use std::borrow::Cow;
use std::io::Write;

use log::kv::{Key, Source, Value, VisitSource};
use log::{LevelFilter, Log, Metadata, Record};

/// Installs the logger once; later calls only adjust the level.
pub fn init(level: LevelFilter) {
    log::set_max_level(level);
    if systemd_journal_logger::connected_to_journal()
        && let Ok(logger) = systemd_journal_logger::JournalLog::new()
    {
        let journal = Journal(logger.with_syslog_identifier("ahdapa".into()));
        if log::set_boxed_logger(Box::new(journal)).is_ok() {
            log::set_max_level(level);
            return;
        }
    }
    if log::set_boxed_logger(Box::new(StderrLogger)).is_ok() {
        log::set_max_level(level);
    }
}

/// Logging for the local commands (`client ... --local`): audit events and warnings, to
/// the journal when the machine has one (so a local change is audited where the
/// daemon's are), else to stderr.
pub fn init_cli() {
    let journal = std::path::Path::new("/run/systemd/journal/socket").exists();
    if journal && let Ok(logger) = systemd_journal_logger::JournalLog::new() {
        let journal = Journal(logger.with_syslog_identifier("ahdapa".into()));
        if log::set_boxed_logger(Box::new(AuditAndWarnings(journal))).is_ok() {
            log::set_max_level(LevelFilter::Info);
            return;
        }
    }
    if log::set_boxed_logger(Box::new(AuditAndWarnings(StderrLogger))).is_ok() {
        log::set_max_level(LevelFilter::Info);
    }
}

/// Passes audit events (target `ahdapa::audit`) and warnings or worse.
struct AuditAndWarnings<L>(L);

impl<L: Log> Log for AuditAndWarnings<L> {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.target() == "ahdapa::audit" || metadata.level() <= log::Level::Warn
    }

    fn log(&self, record: &Record<'_>) {
        if self.enabled(record.metadata()) {
            self.0.log(record);
        }
    }

    fn flush(&self) {
        self.0.flush();
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
        let mut fields = Fields(Vec::new());
        let _ = record.key_values().visit(&mut fields);
        let message = message_of(record);
        self.0.log(
            &Record::builder()
                .args(format_args!("{message}"))
                .level(record.level())
                .target(record.target())
                .module_path(record.module_path())
                .file(record.file())
                .line(record.line())
                .key_values(&fields)
                .build(),
        );
    }

    fn flush(&self) {
        self.0.flush();
    }
}

/// A record's fields for the journal: keys renamed to `AHDAPA_*`, values escaped.
struct Fields(Vec<(Cow<'static, str>, String)>);

impl<'kvs> VisitSource<'kvs> for Fields {
    fn visit_pair(&mut self, key: Key<'kvs>, value: Value<'kvs>) -> Result<(), log::kv::Error> {
        // Every key is an AHDAPA_* field: the named ones above, the others upper-cased
        // (journal field names are A-Z, 0-9 and _).
        let key = match journal_field(key.as_str()) {
            Some(field) => Cow::Borrowed(field),
            None => Cow::Owned(format!(
                "AHDAPA_{}",
                key.as_str()
                    .chars()
                    .map(|c| if c.is_ascii_alphanumeric() {
                        c.to_ascii_uppercase()
                    } else {
                        '_'
                    })
                    .collect::<String>()
            )),
        };
        let text = value.to_string();
        self.0.push((key, escape(&text).into_owned()));
        Ok(())
    }
}

impl Source for Fields {
    fn visit<'kvs>(&'kvs self, visitor: &mut dyn VisitSource<'kvs>) -> Result<(), log::kv::Error> {
        for (k, v) in &self.0 {
            visitor.visit_pair(Key::from_str(k), Value::from(v.as_str()))?;
        }
        Ok(())
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
        let mut line = format!("{:<5} {}", record.level(), message_of(record));
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
        let escaped = escape(&text);
        if text.is_empty() || matches!(escaped, Cow::Owned(_)) || text.contains([' ', '"', '=']) {
            let _ = write!(self.0, " {key}=\"{}\"", escaped.replace('"', "\\\""));
        } else {
            let _ = write!(self.0, " {key}={text}");
        }
        Ok(())
    }
}

/// A record's message, escaped; a message without arguments (most of ours) is checked
/// in place, without formatting it first.
fn message_of<'a>(record: &Record<'a>) -> Cow<'a, str> {
    match record.args().as_str() {
        Some(fixed) => escape(fixed),
        None => Cow::Owned(escape(&record.args().to_string()).into_owned()),
    }
}

/// `text` with control characters (and the Unicode line and paragraph separators) as
/// escapes and backslashes doubled, so it cannot end a line or fake a field.
pub fn escape(text: &str) -> Cow<'_, str> {
    let needs = |c: char| c.is_control() || c == '\\' || c == '\u{2028}' || c == '\u{2029}';
    if !text.chars().any(needs) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\\' => out.push_str("\\\\"),
            c if needs(c) => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(value: &str) -> String {
        let mut out = String::new();
        let _ = KvLine(&mut out).visit_pair(Key::from_str("client_id"), Value::from(value));
        out
    }

    #[test]
    fn no_value_can_end_the_line_or_fake_a_field() {
        for forged in [
            "x\nERROR\tforged\tline",
            "x\rERROR forged",
            "x\u{2028}ERROR",
            "x\u{1b}[2K",
            "a\\\" b=c",
        ] {
            let out = line(forged);
            assert!(
                !out.chars().any(|c| c.is_control() || c == '\u{2028}'),
                "{out:?}"
            );
            // One field: the value is quoted and every quote inside it escaped.
            let inner = out
                .strip_prefix(" client_id=\"")
                .and_then(|r| r.strip_suffix('"'));
            let inner = inner.unwrap_or_else(|| panic!("not quoted: {out:?}"));
            assert!(
                !inner.replace("\\\\", "").replace("\\\"", "").contains('"'),
                "{out:?}"
            );
        }
        assert_eq!(line("x\nERROR"), " client_id=\"x\\nERROR\"");
        assert_eq!(line("plain"), " client_id=plain");
        assert_eq!(line(""), " client_id=\"\"");
    }

    #[test]
    fn journal_fields_and_messages_are_escaped_too() {
        let mut fields = Fields(Vec::new());
        let _ = fields.visit_pair(Key::from_str("client_id"), Value::from("x\nMESSAGE=forged"));
        let _ = fields.visit_pair(Key::from_str("other_key"), Value::from("v"));
        assert_eq!(fields.0[0].0, "AHDAPA_CLIENT_ID");
        assert_eq!(fields.0[0].1, "x\\nMESSAGE=forged");
        assert_eq!(fields.0[1].0, "AHDAPA_OTHER_KEY");
        assert_eq!(escape("tab\there"), "tab\\there");
        assert!(matches!(escape("nothing to do"), Cow::Borrowed(_)));
    }
}
