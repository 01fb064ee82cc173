//! The config file: any text is a config or a list of mistakes, never a panic, and every
//! mistake names a key path (or the file itself, for a TOML syntax error).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(errors) = ahdapa::config::parse(text) {
        assert!(!errors.is_empty());
        for e in &errors {
            assert!(!e.message.is_empty(), "an empty message at {:?}", e.path);
        }
    }
});
