//! PostgreSQL: a real server (initdb in a temporary directory, run as an unprivileged
//! user, on a loopback port), the store contract against it, several ahdapa nodes on one
//! database, and an outage.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::harness::{Options, Server, curl, free_port, generate_secret};

const PG_USER: &str = "ahdapa-pgtest";

/// A PostgreSQL server in a directory of its own.
pub struct Postgres {
    pub dir: PathBuf,
    pub port: u16,
    bin: PathBuf,
    owned: bool,
}

fn bin_dir() -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|r| {
            r.filter_map(|e| e.ok())
                .map(|e| e.path().join("bin"))
                .collect()
        })
        .unwrap_or_default();
    dirs.sort();
    dirs.into_iter()
        .rev()
        .find(|d| d.join("initdb").exists())
        .or_else(|| {
            Path::new("/usr/bin/initdb")
                .exists()
                .then(|| PathBuf::from("/usr/bin"))
        })
        .expect("PostgreSQL server binaries (postgresql) must be installed")
}

fn as_pg_user(cmd: &str) -> std::process::Output {
    Command::new("runuser")
        .args(["-u", PG_USER, "--", "sh", "-c", cmd])
        .output()
        .expect("runuser")
}

impl Postgres {
    fn init(owned: bool) -> Self {
        // PostgreSQL refuses to run as root: a system user of its own (created once).
        static USER: OnceLock<()> = OnceLock::new();
        USER.get_or_init(|| {
            if Command::new("id")
                .arg(PG_USER)
                .output()
                .map(|o| !o.status.success())
                .unwrap_or(true)
            {
                let out = Command::new("useradd")
                    .args(["-r", "-M", "-s", "/usr/sbin/nologin", PG_USER])
                    .output()
                    .expect("useradd");
                assert!(
                    out.status.success(),
                    "useradd: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        });
        let dir = tempfile::Builder::new()
            .prefix("ahdapa-pg-")
            .tempdir()
            .unwrap()
            .keep();
        assert!(
            Command::new("chown")
                .args([PG_USER])
                .arg(&dir)
                .status()
                .unwrap()
                .success()
        );
        let bin = bin_dir();
        let out = as_pg_user(&format!(
            "'{}/initdb' -D '{}/data' -A trust -U postgres >'{}/initdb.log' 2>&1",
            bin.display(),
            dir.display(),
            dir.display()
        ));
        assert!(
            out.status.success(),
            "initdb: {}{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(dir.join("initdb.log")).unwrap_or_default()
        );
        let pg = Self {
            dir,
            port: free_port(),
            bin,
            owned,
        };
        pg.start();
        pg
    }

    /// Starts (or restarts) the server and waits until it accepts connections.
    pub fn start(&self) {
        let out = as_pg_user(&format!(
            "'{}/pg_ctl' -D '{d}/data' -o \"-p {p} -k {d} -c listen_addresses=127.0.0.1 -c fsync=off\" -l '{d}/log' -w start",
            self.bin.display(),
            d = self.dir.display(),
            p = self.port
        ));
        assert!(
            out.status.success(),
            "pg_ctl start: {}{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
        );
    }

    /// Stops the server (fast shutdown: open connections are cut).
    pub fn stop(&self) {
        let _ = as_pg_user(&format!(
            "'{}/pg_ctl' -D '{}/data' -m fast -w stop",
            self.bin.display(),
            self.dir.display()
        ));
    }

    /// A fresh database; its URL.
    pub fn database(&self, name: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-c",
            ])
            .arg(format!("CREATE DATABASE \"{name}\""))
            .output()
            .expect("psql");
        assert!(
            out.status.success(),
            "createdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if self.owned {
            self.stop();
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// The server shared by tests that only need a database of their own; stopped by a
/// reaper once this test process has exited.
pub fn shared() -> &'static Postgres {
    static PG: OnceLock<Postgres> = OnceLock::new();
    PG.get_or_init(|| {
        let pg = Postgres::init(false);
        let script = format!(
            "while kill -0 {parent} 2>/dev/null; do sleep 0.2; done\n\
             runuser -u {PG_USER} -- '{}/pg_ctl' -D '{d}/data' -m immediate stop >/dev/null 2>&1; rm -rf '{d}'\n",
            pg.bin.display(),
            parent = std::process::id(),
            d = pg.dir.display()
        );
        let reaper = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::mem::forget(reaper);
        pg
    })
}

fn store_config(url: &str) -> ahdapa::store::postgres::PostgresConfig {
    ahdapa::store::postgres::PostgresConfig {
        url: url.to_owned(),
        password: None,
        tls: false,
        ca_file: None,
        pool_size: 4,
        timeout: Duration::from_secs(5),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_contract_on_postgres() {
    let url = shared().database("contract");
    let store = ahdapa::store::postgres::PostgresStore::open(&store_config(&url))
        .await
        .unwrap();
    ahdapa::store::contract::run_all(&store).await;
    ahdapa::store::contract::concurrent_uses_have_one_winner(std::sync::Arc::new(store.clone()))
        .await;
    ahdapa::store::contract::concurrent_state_uses_have_one_winner(std::sync::Arc::new(
        store.clone(),
    ))
    .await;
    // A second open (another node starting) finds the schema migrated and the data there.
    let again = ahdapa::store::postgres::PostgresStore::open(&store_config(&url))
        .await
        .unwrap();
    use ahdapa::store::Store;
    assert_eq!(again.clients().await.unwrap().len(), 1);
}

/// `[store] postgres_url` for a node with Negotiate on; all nodes share the master key
/// through `state`.
pub fn node(url: &str, state: &Path, issuer: Option<String>, extra: &str) -> Server {
    let base = Options::kerberos(extra);
    Server::start(Options {
        state_dir: Some(state.to_owned()),
        issuer,
        postgres_url: Some(url.to_owned()),
        ..base
    })
}

#[test]
fn nodes_on_one_database_share_replays_revocations_and_clients() {
    let url = shared().database("cluster");
    let state = tempfile::tempdir().unwrap();
    let (secret, hash) = generate_secret();
    let pk = crate::assertions::keygen("ES256", "pg-1");
    let table = format!(
        "[[clients]]\nclient_id = \"svc\"\ntoken_endpoint_auth_method = \"client_secret_basic\"\n\
         {hash}\nscopes = [\"s\", \"ahdapa.admin\"]\n{}\
         [[clients]]\nclient_id = \"pg-fleet\"\ntoken_endpoint_auth_method = \"kerberos_client_auth\"\n\
         kerberos_principal_pattern = \"host/*.pg.test.realm@{}\"\nscopes = [\"s\"]\n",
        crate::assertions::pkjwt_client("pg-pk", &[&pk]),
        crate::kdc::REALM
    );
    let a = node(&url, state.path(), None, &table);
    let issuer = Some(a.base_url.clone());
    let b = node(&url, state.path(), issuer.clone(), &table);
    let mut c = node(&url, state.path(), issuer, &table);

    // A DPoP proof accepted by A is a replay on B.
    use crate::dpop::{keygen, proof, token};
    let key = keygen();
    let p = proof(&key, &format!("{}/token", a.base_url), |_, _| {});
    assert_eq!(token(&a, "svc", &secret, Some(&p)).status, 200);
    let replay = token(&b, "svc", &secret, Some(&p));
    assert_eq!(replay.status, 400, "{}", replay.body);
    assert_eq!(replay.json()["error"], "invalid_dpop_proof");
    assert_eq!(
        replay.json()["error_description"],
        "DPoP proof jti was already used"
    );

    // The same private_key_jwt assertion and the same Negotiate header: replays on B.
    let jwt = crate::assertions::assertion(
        "ES256",
        &pk.private,
        "pg-1",
        "pg-pk",
        &format!("{}/token", a.base_url),
        "pg-jti-1",
        60,
    );
    let first = crate::assertions::post(&a, &jwt);
    assert_eq!(first.status, 200, "{}\n{}", first.body, a.log_text());
    let replay = crate::assertions::post(&b, &jwt);
    assert_eq!(replay.status, 401, "{}", replay.body);
    let kt = crate::kdc::realm().add_hosts(&["n1.pg.test.realm"]);
    let host = crate::kdc::Host::new("n1.pg.test.realm", &kt[0]);
    host.kinit(None);
    let header = format!(
        "Authorization: Negotiate {}",
        host.negotiate_token("HTTP@localhost")
    );
    let body = "grant_type=client_credentials&client_id=pg-fleet";
    let r = curl(&a.base_url, &["-H", &header, "-d", body], "/token");
    assert_eq!(r.status, 200, "{}", r.body);
    let r = curl(&b.base_url, &["-H", &header, "-d", body], "/token");
    assert_eq!(
        r.status, 401,
        "a replayed AP-REQ on another node: {}",
        r.body
    );
    assert!(b.log_text().contains("replayed AP-REQ"), "{}", b.log_text());

    // Revoked on A, inactive on B.
    let at = token(&a, "svc", &secret, None).json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let introspect = |s: &Server| {
        curl(
            &s.base_url,
            &["-u", &format!("svc:{secret}"), "-d", &format!("token={at}")],
            "/introspect",
        )
        .json()["active"]
            .clone()
    };
    assert_eq!(introspect(&b), true);
    let r = curl(
        &a.base_url,
        &["-u", &format!("svc:{secret}"), "-d", &format!("token={at}")],
        "/revoke",
    );
    assert_eq!(r.status, 200);
    assert_eq!(introspect(&b), false);

    // A client added through one node works on the others within the refresh bound.
    let added = a.add_client("added-later", &["--scope", "s"]);
    let token_on_b = || {
        curl(
            &b.base_url,
            &[
                "-u",
                &format!("added-later:{added}"),
                "-d",
                "grant_type=client_credentials",
            ],
            "/token",
        )
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = token_on_b();
        if r.status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "node B never saw the new client: {}",
            r.body
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // Disabled through A's admin API: refused on B within the refresh bound.
    let admin_token = curl(
        &a.base_url,
        &[
            "-u",
            &format!("svc:{secret}"),
            "-d",
            "grant_type=client_credentials&scope=ahdapa.admin",
        ],
        "/token",
    )
    .json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    // Pushed with NOTIFY, not waited for by the 2 s poll: each of five disable/enable
    // flips reaches B well within a second (polling alone would miss that bound most
    // times, so the test fails if the notifications stop working).
    for (action, want) in [
        ("disable", 401),
        ("enable", 200),
        ("disable", 401),
        ("enable", 200),
        ("disable", 401),
    ] {
        let r = curl(
            &a.base_url,
            &[
                "-X",
                "POST",
                "-H",
                &format!("Authorization: Bearer {admin_token}"),
            ],
            &format!("/api/admin/clients/added-later/{action}"),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let changed = Instant::now();
        loop {
            if token_on_b().status == want {
                break;
            }
            assert!(
                changed.elapsed() < Duration::from_millis(900),
                "node B did not see '{action}' within 900 ms"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    // kill -9 one node during a burst on all three: A and B answer every request.
    let burst: Vec<_> = [a.base_url.clone(), b.base_url.clone()]
        .into_iter()
        .map(|base| {
            let secret = secret.clone();
            std::thread::spawn(move || {
                (0..15)
                    .map(|_| {
                        curl(
                            &base,
                            &[
                                "-u",
                                &format!("svc:{secret}"),
                                "-d",
                                "grant_type=client_credentials",
                            ],
                            "/token",
                        )
                        .status
                    })
                    .collect::<Vec<u16>>()
            })
        })
        .collect();
    let c_base = c.base_url.clone();
    let c_secret = secret.clone();
    let on_c = std::thread::spawn(move || {
        for _ in 0..15 {
            let _ = curl(
                &c_base,
                &[
                    "-u",
                    &format!("svc:{c_secret}"),
                    "-d",
                    "grant_type=client_credentials",
                ],
                "/token",
            );
        }
    });
    std::thread::sleep(Duration::from_millis(150));
    c.kill9();
    for t in burst {
        let statuses = t.join().unwrap();
        assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    }
    let _ = on_c.join();
    let r = curl(
        &b.base_url,
        &[
            "-u",
            &format!("svc:{secret}"),
            "-d",
            "grant_type=client_credentials",
        ],
        "/token",
    );
    assert_eq!(r.status, 200);
    assert_eq!(introspect(&a), false, "the revocation survived");
}

#[test]
fn postgres_outage_is_503_for_what_needs_it_and_recovers() {
    let pg = Postgres::init(true);
    let url = pg.database("outage");
    let state = tempfile::tempdir().unwrap();
    let (secret, hash) = generate_secret();
    let table = format!(
        "[[clients]]\nclient_id = \"svc\"\ntoken_endpoint_auth_method = \"client_secret_basic\"\n\
         {hash}\nscopes = [\"s\"]\n"
    );
    let s = node(&url, state.path(), None, &table);
    use crate::dpop::{keygen, proof, token};
    let key = keygen();
    let token_url = format!("{}/token", s.base_url);
    assert_eq!(
        token(
            &s,
            "svc",
            &secret,
            Some(&proof(&key, &token_url, |_, _| {}))
        )
        .status,
        200
    );

    pg.stop();
    // Secret clients are served from memory: still tokens.
    assert_eq!(token(&s, "svc", &secret, None).status, 200);
    // A DPoP proof needs the shared replay record: 503, quickly.
    let started = Instant::now();
    let r = token(
        &s,
        "svc",
        &secret,
        Some(&proof(&key, &token_url, |_, _| {})),
    );
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.json()["error"], "temporarily_unavailable");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(curl(&s.base_url, &[], "/readyz").status, 503);
    s.wait_for_log("PostgreSQL change notifications lost", 1);

    pg.start();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let r = token(
            &s,
            "svc",
            &secret,
            Some(&proof(&key, &token_url, |_, _| {})),
        );
        if r.status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "no recovery: {}", r.body);
        std::thread::sleep(Duration::from_millis(300));
    }
    assert_eq!(curl(&s.base_url, &[], "/readyz").status, 200);
    // The LISTEN connection came back by itself: a client added by another process is
    // pushed to the node, not waited for by the 2 s poll.
    s.wait_for_log("PostgreSQL change notifications are back", 1);
    let added = s.add_client("after-outage", &["--scope", "s"]);
    let changed = Instant::now();
    while token(&s, "after-outage", &added, None).status != 200 {
        assert!(
            changed.elapsed() < Duration::from_millis(900),
            "the new client was not pushed to the node"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!s.log_text().contains("panicked"));
}
