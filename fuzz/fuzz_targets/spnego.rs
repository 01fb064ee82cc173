//! The DER walk over a Negotiate token (SPNEGO NegTokenInit, the Kerberos mechanism's
//! InitialContextToken, the AP-REQ) that finds the authenticator for the replay check.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ahdapa::authn::ap_req::replay_digest(data);
});
