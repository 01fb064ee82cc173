//! tls_client_auth and self_signed_tls_client_auth over real TLS with curl client
//! certificates, and certificate-bound tokens (`cnf.x5t#S256`) checked against openssl.

use std::process::Command;

use crate::harness::{Server, claims, curl, pki};

const CC: &str = "grant_type=client_credentials";

/// RFC 8705 `x5t#S256` of a PEM certificate, computed by openssl.
fn openssl_x5t(pem: &std::path::Path) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl x509 -in '{}' -outform DER | openssl dgst -sha256 -binary | basenc --base64url | tr -d '='",
            pem.display()
        ))
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn with_cert(s: &Server, name: &str, body: &str) -> crate::harness::Reply {
    let d = &pki().dir;
    let cert = d.join(format!("{name}.pem")).display().to_string();
    let key = d.join(format!("{name}.key")).display().to_string();
    curl(
        &s.base_url,
        &["--cert", &cert, "--key", &key, "-d", body],
        "/token",
    )
}

fn clients() -> String {
    let selfsigned = std::fs::read_to_string(pki().dir.join("selfsigned.pem")).unwrap();
    format!(
        "[[clients]]\nclient_id = \"mtls-san\"\ntoken_endpoint_auth_method = \"tls_client_auth\"\n\
         tls_client_auth_san_dns = \"node1.test.realm\"\nscopes = [\"s\"]\n\
         [[clients]]\nclient_id = \"mtls-dn\"\ntoken_endpoint_auth_method = \"tls_client_auth\"\n\
         tls_client_auth_subject_dn = \"CN=node1.test.realm, O=TEST.REALM\"\nscopes = [\"s\"]\n\
         [[clients]]\nclient_id = \"mtls-self\"\ntoken_endpoint_auth_method = \"self_signed_tls_client_auth\"\n\
         tls_client_certificates = ['''{selfsigned}''']\nscopes = [\"s\"]\n"
    )
}

#[test]
fn ca_issued_certificates_get_bound_tokens() {
    let s = Server::start_tls(&clients());
    let node1_x5t = openssl_x5t(&pki().dir.join("node1.pem"));
    for client in ["mtls-san", "mtls-dn"] {
        let r = with_cert(&s, "node1", &format!("{CC}&client_id={client}"));
        assert_eq!(r.status, 200, "{client}: {}\n{}", r.body, s.log_text());
        let c = claims(r.json()["access_token"].as_str().unwrap());
        assert_eq!(c["sub"], client);
        assert_eq!(
            c["cnf"]["x5t#S256"], node1_x5t,
            "bound to the certificate, as openssl computes it"
        );
    }
    // A CA-issued certificate with another SAN is not mtls-san.
    let r = with_cert(&s, "other", &format!("{CC}&client_id=mtls-san"));
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (401, Some("invalid_client"))
    );
    // No certificate at all.
    let r = curl(
        &s.base_url,
        &["-d", &format!("{CC}&client_id=mtls-san")],
        "/token",
    );
    assert_eq!(r.status, 401);
    assert!(
        s.log_text()
            .contains("does not carry the registered subject DN or SAN"),
        "{}",
        s.log_text()
    );
}

#[test]
fn untrusted_and_expired_certificates_fail_the_handshake() {
    let s = Server::start_tls(&clients());
    for name in ["rogue", "expired", "unregistered"] {
        let r = with_cert(&s, name, &format!("{CC}&client_id=mtls-san"));
        assert_eq!(
            r.status, 0,
            "{name}: the handshake must fail, got {} {}",
            r.status, r.body
        );
    }
    assert!(
        s.log_text().contains("TLS handshake failed"),
        "{}",
        s.log_text()
    );
    // The listener still serves everyone else.
    assert_eq!(curl(&s.base_url, &[], "/healthz").status, 200);
}

#[test]
fn self_signed_certificate_matched_by_thumbprint() {
    let s = Server::start_tls(&clients());
    let r = with_cert(&s, "selfsigned", &format!("{CC}&client_id=mtls-self"));
    assert_eq!(r.status, 200, "{}\n{}", r.body, s.log_text());
    let c = claims(r.json()["access_token"].as_str().unwrap());
    assert_eq!(
        c["cnf"]["x5t#S256"],
        openssl_x5t(&pki().dir.join("selfsigned.pem"))
    );
    // The CA-issued node1 certificate is not mtls-self's.
    let r = with_cert(&s, "node1", &format!("{CC}&client_id=mtls-self"));
    assert_eq!(r.status, 401);
}

#[test]
fn other_methods_can_ask_for_certificate_bound_tokens() {
    let (secret, hash_line) = crate::harness::generate_secret();
    let s = Server::start_tls(&format!(
        "{}[[clients]]\nclient_id = \"bound-secret\"\ntoken_endpoint_auth_method = \"client_secret_post\"\n\
         {hash_line}\ntls_client_certificate_bound_access_tokens = true\nscopes = [\"s\"]\n\
         [[clients]]\nclient_id = \"plain-secret\"\ntoken_endpoint_auth_method = \"client_secret_post\"\n\
         {hash_line}\nscopes = [\"s\"]\n",
        clients()
    ));
    let body = |id: &str| format!("{CC}&client_id={id}&client_secret={secret}");

    // Asked for: bound to the certificate of the connection.
    let r = with_cert(&s, "node1", &body("bound-secret"));
    assert_eq!(r.status, 200, "{}", r.body);
    let c = claims(r.json()["access_token"].as_str().unwrap());
    assert_eq!(
        c["cnf"]["x5t#S256"],
        openssl_x5t(&pki().dir.join("node1.pem"))
    );
    // Asked for but no certificate: refused rather than silently unbound.
    let r = curl(&s.base_url, &["-d", &body("bound-secret")], "/token");
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (400, Some("invalid_request"))
    );
    // Not asked for: a certificate on the connection does not bind the token.
    let r = with_cert(&s, "node1", &body("plain-secret"));
    assert_eq!(r.status, 200);
    assert!(
        claims(r.json()["access_token"].as_str().unwrap())
            .get("cnf")
            .is_none()
    );
}

fn proxied(trusted: &str) -> Server {
    let mut o = crate::harness::Options {
        extra: clients(),
        ..Default::default()
    };
    o.plain_http_tls = Some(format!(
        "client_cert_header = \"Client-Cert\"\ntrusted_proxies = [\"{trusted}\"]"
    ));
    Server::start(o)
}

#[test]
fn proxy_header_is_honoured_only_from_trusted_proxies() {
    use base64::Engine;
    let pem = std::fs::read_to_string(pki().dir.join("node1.pem")).unwrap();
    let der = rustls_pki_types::pem::PemObject::from_pem_slice(pem.as_bytes())
        .map(|c: rustls_pki_types::CertificateDer<'static>| c.to_vec())
        .unwrap();
    let rfc9440 = format!(
        "Client-Cert: :{}:",
        base64::engine::general_purpose::STANDARD.encode(&der)
    );
    let nginx: String = format!(
        "Client-Cert: {}",
        form_urlencoded::byte_serialize(pem.as_bytes())
            .collect::<String>()
            .replace('+', "%20")
    );
    let x5t = openssl_x5t(&pki().dir.join("node1.pem"));

    let trusted = proxied("127.0.0.1");
    for header in [&rfc9440, &nginx] {
        let r = curl(
            &trusted.base_url,
            &["-H", header, "-d", &format!("{CC}&client_id=mtls-san")],
            "/token",
        );
        assert_eq!(r.status, 200, "{}\n{}", r.body, trusted.log_text());
        assert_eq!(
            claims(r.json()["access_token"].as_str().unwrap())["cnf"]["x5t#S256"],
            x5t
        );
    }
    // A forwarded certificate from a rogue CA is not trusted either.
    let rogue = std::fs::read_to_string(pki().dir.join("rogue.pem")).unwrap();
    let rogue_header = format!(
        "Client-Cert: {}",
        form_urlencoded::byte_serialize(rogue.as_bytes()).collect::<String>()
    );
    let r = curl(
        &trusted.base_url,
        &[
            "-H",
            &rogue_header,
            "-d",
            &format!("{CC}&client_id=mtls-san"),
        ],
        "/token",
    );
    assert_eq!(r.status, 401);

    // The same header from a peer that is not a trusted proxy is ignored and logged.
    let untrusted = proxied("192.0.2.1");
    let r = curl(
        &untrusted.base_url,
        &["-H", &rfc9440, "-d", &format!("{CC}&client_id=mtls-san")],
        "/token",
    );
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (401, Some("invalid_client"))
    );
    assert!(
        untrusted
            .log_text()
            .contains("client certificate header from an untrusted peer ignored"),
        "{}",
        untrusted.log_text()
    );
}
