//! LDAP filter values (RFC 4515 §3): what ahdapa puts between `(attr=` and `)` is
//! escaped by ldap3's `ldap_escape`. Property: the escaped value has no unescaped
//! `*`, `(`, `)`, `\` or NUL, and unescaping it gives the input back.
#![no_main]
use libfuzzer_sys::fuzz_target;

fn unescape(escaped: &str) -> Option<Vec<u8>> {
    let bytes = escaped.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'\\' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    Some(out)
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let escaped = ldap3::ldap_escape(text);
    let mut rest = escaped.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        assert!(
            !matches!(b, b'*' | b'(' | b')' | 0),
            "unescaped {b:#x} in {escaped:?}"
        );
        if b == b'\\' {
            assert!(tail.len() >= 2, "a dangling backslash in {escaped:?}");
            rest = &tail[2..];
        } else {
            rest = tail;
        }
    }
    assert_eq!(
        unescape(&escaped).as_deref(),
        Some(text.as_bytes()),
        "{escaped:?}"
    );
});
