//! The form body of /token, /introspect, /revoke, /device_authorization and the sign-in
//! pages: `Form::parse` and every grant's parameters read from it.
#![no_main]
use ahdapa::oauth::form::Form;
use ahdapa::oauth::grant::Grant;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(form) = Form::parse_with_repeatable(data, &["resource", "audience"]) {
        let _ = Grant::parse(&form);
        if let Some(scope) = form.get("scope") {
            let _ = ahdapa::oauth::scope::Scopes::parse(scope);
        }
        if let Some(challenge) = form.get("code_challenge") {
            let _ =
                ahdapa::oauth::pkce::Challenge::parse(challenge, form.get("code_challenge_method"));
        }
    }
});
