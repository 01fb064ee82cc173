//! RFC 7591 registration metadata, as POST /register and PUT /register/{id} read it.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = ahdapa::admin::registration::to_registration(
            &value,
            "dcr-client",
            &["read".to_owned(), "write".to_owned()],
        );
    }
});
