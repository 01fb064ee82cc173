//! DPoP proofs (RFC 9449 §4.3): header with an embedded JWK, claims, the URL compare.
#![no_main]
use ahdapa::token::dpop::{self, ProofRules, ProofTarget};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let rules = ProofRules {
        max_age_secs: 300,
        leeway_secs: 5,
    };
    for access_token in [None, Some("at")] {
        let target = ProofTarget {
            htm: "POST",
            htu: "https://idp.test/token",
            access_token,
        };
        let _ = dpop::verify(text, target, rules, 1_800_000_000);
    }
});
