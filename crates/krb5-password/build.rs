//! Binds the few MIT krb5 functions this crate calls (krb5.h through pkg-config).

use std::env;
use std::path::PathBuf;

fn main() {
    let lib = match pkg_config::Config::new().probe("krb5") {
        Ok(lib) => lib,
        Err(e) => {
            println!("cargo:warning=pkg-config krb5: {e}; install libkrb5-dev (MIT krb5 headers)");
            std::process::exit(1);
        }
    };
    let mut builder = bindgen::Builder::default()
        .header_contents("wrapper.h", "#include <krb5.h>\n")
        .allowlist_function("krb5_(init|free)_context")
        .allowlist_function("krb5_(parse|unparse)_name")
        .allowlist_function("krb5_free_(principal|unparsed_name|cred_contents)")
        .allowlist_function("krb5_get_init_creds_(password|keytab)")
        .allowlist_function("krb5_get_init_creds_opt_(alloc|free|set_fast_ccache_name|set_tkt_life|set_renew_life|set_forwardable|set_proxiable)")
        .allowlist_function("krb5_verify_init_creds(_opt_init|_opt_set_ap_req_nofail)?")
        .allowlist_function("krb5_kt_(resolve|close)")
        .allowlist_function("krb5_cc_(new_unique|initialize|store_cred|destroy|get_name|get_type)")
        .allowlist_function("krb5_(get|free)_error_message")
        .allowlist_var("KRB5KDC_ERR_.*")
        .allowlist_var("KRB5KRB_AP_ERR_.*")
        .allowlist_var("KRB5_(KDC_UNREACH|REALM_UNKNOWN|LIBOS_PWDINTR|KT_NOTFOUND|KT_KVNONOTFOUND|PREAUTH_FAILED|GET_IN_TKT_LOOP|KDCREP_MODIFIED|CONFIG_NODEFREALM|CC_NOTFOUND)")
        .derive_default(true)
        .layout_tests(false);
    for path in &lib.include_paths {
        builder = builder.clang_arg(format!("-I{}", path.display()));
    }
    let bindings = match builder.generate() {
        Ok(b) => b,
        Err(e) => {
            println!("cargo:warning=bindgen over krb5.h failed: {e}");
            std::process::exit(1);
        }
    };
    // A build script is told where to write by its environment.
    #[allow(clippy::disallowed_methods)]
    let out = PathBuf::from(env::var("OUT_DIR").unwrap_or_default()).join("krb5.rs");
    if let Err(e) = bindings.write_to_file(&out) {
        println!("cargo:warning=cannot write {}: {e}", out.display());
        std::process::exit(1);
    }
}
