//! Config parsing tests: literal TOML in, key paths out.

use super::*;

const MINIMAL: &str = r#"
issuer = "http://127.0.0.1:8080"
[server]
insecure_http = true
"#;

fn errors(text: &str) -> Vec<String> {
    parse(text)
        .unwrap_err()
        .into_iter()
        .map(|e| e.to_string())
        .collect()
}

fn paths(text: &str) -> Vec<String> {
    parse(text)
        .unwrap_err()
        .into_iter()
        .map(|e| e.path)
        .collect()
}

#[test]
fn minimal_config_gets_defaults() {
    let c = parse(MINIMAL).unwrap();
    assert_eq!(c.tokens.default_lifetime_secs, 900);
    assert_eq!(c.tokens.default_audience, ["http://127.0.0.1:8080"]);
    assert_eq!(c.keys.algorithm, SigningAlgorithm::ES256);
    assert_eq!(
        c.server.listen,
        ["0.0.0.0:443".parse::<SocketAddr>().unwrap()]
    );
    assert_eq!(
        c.store.sqlite_path,
        PathBuf::from("/var/lib/ahdapa/ahdapa.db")
    );
    assert_eq!(c.server.limits, Limits::default());
}

#[test]
fn every_shipped_config_file_parses() {
    // config/ahdapa.toml names TLS files that do not exist here, so it fails only there.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        seen += 1;
        let text = std::fs::read_to_string(&path).unwrap();
        match parse(&text) {
            Ok(_) => {}
            Err(errs) => {
                let non_tls: Vec<_> = errs
                    .iter()
                    .filter(|e| !e.path.starts_with("tls."))
                    .collect();
                assert!(non_tls.is_empty(), "{}: {non_tls:?}", path.display());
                assert!(
                    errs.iter().all(|e| e.message.contains("/etc/ahdapa/tls/")),
                    "{errs:?}"
                );
            }
        }
    }
    assert!(seen >= 2, "expected ahdapa.toml and dev.toml under config/");
}

#[test]
fn reports_two_mistakes_in_one_section_with_key_paths() {
    let text = format!("{MINIMAL}request_timeout_secs = \"ten\"\nmax_body_bytes = -1\n");
    let mut p = paths(&text);
    p.sort();
    assert_eq!(p, ["server.max_body_bytes", "server.request_timeout_secs"]);
}

#[test]
fn reports_mistakes_across_sections_and_unknown_keys() {
    let text = format!(
        "{MINIMAL}listen = [\"nope\"]\n[keys]\nalgorithm = \"HS256\"\ncolour = \"red\"\n[bogus]\nx = 1\n"
    );
    let p = paths(&text);
    assert!(p.contains(&"server.listen[0]".to_string()), "{p:?}");
    assert!(p.contains(&"keys.algorithm".to_string()), "{p:?}");
    assert!(p.contains(&"keys.colour".to_string()), "{p:?}");
    assert!(p.contains(&"bogus".to_string()), "{p:?}");
}

#[test]
fn client_mistakes_name_their_index_and_field() {
    let text = format!(
        "{MINIMAL}
[[clients]]
client_id = \"ok\"
token_endpoint_auth_method = \"none\"
scopes = [\"a\"]

[[clients]]
client_id = \"bad/id\"
token_endpoint_auth_method = \"client_secret_basic\"
client_secret_hash = \"sha256:nothash\"
scopes = [\"a\"]
extra = 1

[[clients]]
client_id = \"m\"
token_endpoint_auth_method = \"password\"
scopes = []
"
    );
    let p = paths(&text);
    assert!(p.contains(&"clients[1].extra".to_string()), "{p:?}");
    assert!(p.contains(&"clients[1].client_id".to_string()), "{p:?}");
    assert!(
        p.contains(&"clients[1].client_secret_hash".to_string()),
        "{p:?}"
    );
    assert!(
        p.contains(&"clients[2].token_endpoint_auth_method".to_string()),
        "{p:?}"
    );
}

#[test]
fn duplicate_client_id_is_refused() {
    let text = format!(
        "{MINIMAL}
[[clients]]
client_id = \"a\"
token_endpoint_auth_method = \"none\"
scopes = [\"s\"]
[[clients]]
client_id = \"a\"
token_endpoint_auth_method = \"none\"
scopes = [\"s\"]
"
    );
    assert_eq!(paths(&text), ["clients[1].client_id"]);
}

#[test]
fn missing_issuer_and_tls_are_named() {
    let p = paths("[server]\n");
    assert_eq!(p, ["issuer", "tls"]);
}

#[test]
fn http_issuer_needs_insecure_http_and_no_trailing_slash() {
    let e = errors(
        "issuer = \"http://x\"\n[tls]\ncertificate_file = \"/nonexistent/c\"\nprivate_key_file = \"/nonexistent/k\"\n",
    );
    assert!(
        e.iter().any(|m| m.starts_with("issuer: must be https://")),
        "{e:?}"
    );
    assert!(
        e.iter().any(|m| m.starts_with("tls.certificate_file:")),
        "{e:?}"
    );
    let e = errors("issuer = \"https://x/\"\n[server]\ninsecure_http = true\n");
    assert!(e[0].contains("trailing slash"), "{e:?}");
}

#[test]
fn relative_paths_and_out_of_range_values_are_refused() {
    let text = format!(
        "{MINIMAL}[store]\nsqlite_path = \"rel.db\"\n[tokens]\nlifetime_secs = 0\n[log]\nlevel = \"loud\"\n"
    );
    assert_eq!(
        paths(&text),
        ["store.sqlite_path", "tokens.lifetime_secs", "log.level"]
    );
}

#[test]
fn syntax_error_is_reported_not_panicked() {
    let e = errors("issuer = \n[");
    assert!(e[0].starts_with("TOML syntax error"), "{e:?}");
}

#[test]
fn kerberos_is_off_by_default_and_ipa_gssapi_turns_it_on() {
    assert!(parse(MINIMAL).unwrap().kerberos.is_none());
    let keytab = tempfile::NamedTempFile::new().unwrap();
    let text = format!(
        "{MINIMAL}[ipa]\ngssapi = true\n[kerberos]\nkeytab = \"{}\"\n",
        keytab.path().display()
    );
    let k = parse(&text).unwrap().kerberos.unwrap();
    assert_eq!(
        k.service_principal, "HTTP/127.0.0.1",
        "defaults to HTTP/<issuer host>"
    );
    assert_eq!(k.clock_skew_secs, 300);
    assert_eq!(k.replay_cache, PathBuf::from("/var/lib/ahdapa/krb5.rcache"));
}

#[test]
fn kerberos_mistakes_are_named() {
    let text = format!(
        "{MINIMAL}[ipa]\ngssapi = false\n[kerberos]\nenabled = true\nkeytab = \"/nonexistent/http.keytab\"\n"
    );
    assert_eq!(paths(&text), ["ipa.gssapi"]);
    let text = format!(
        "{MINIMAL}[kerberos]\nenabled = true\nkeytab = \"/nonexistent/http.keytab\"\nservice_principal = \"HTTP\"\nclock_skew_secs = 0\n"
    );
    let mut p = paths(&text);
    p.sort();
    assert_eq!(
        p,
        [
            "kerberos.clock_skew_secs",
            "kerberos.keytab",
            "kerberos.service_principal"
        ]
    );
}
