//! Verify a person's Kerberos password, the way `pam_krb5` does.
//!
//! 1. An AS-REQ for the user with the password (`krb5_get_init_creds_password`),
//!    armoured with FAST (RFC 6113) by a TGT the service gets from its own keytab, so
//!    the exchange is not an offline-guessing oracle on the wire. A KDC or principal
//!    that cannot arm is used without armour; [`Verified::fast`] says which happened.
//! 2. The ticket is then proved against the service's own keytab
//!    (`krb5_verify_init_creds`, "ap_req_nofail"): a service ticket for the service is
//!    obtained with the new TGT and accepted with the keytab, so a spoofed KDC that
//!    answers "yes" to any password cannot pass — it does not know the service's key.
//!
//! MIT krb5's answers become [`PasswordError`] variants (wrong password, expired
//! password, revoked/locked principal, expired principal, KDC unreachable), so a sign-in
//! page can say what happened. The calls block (network, keytab file): run them on a
//! blocking thread. Each call uses its own `krb5_context`, so calls may run in parallel.
//!
//! ahdapa forbids `unsafe`; this crate holds the FFI. No Rust crate binds these calls and
//! is maintained (krb5-sys and libkrb5 are unmaintained), so the bindings are generated
//! by bindgen from the system's krb5.h, limited to the functions used here.

#![allow(
    non_upper_case_globals,
    non_camel_case_types,
    non_snake_case,
    dead_code
)]

use std::ffi::{CStr, CString, c_char};
use std::ptr;

#[allow(clippy::all, unsafe_op_in_unsafe_fn, missing_docs)]
mod sys {
    include!(concat!(env!("OUT_DIR"), "/krb5.rs"));
}

/// A successful password check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The user's principal as the library canonicalised it (`alice@EXAMPLE.COM`).
    pub principal: String,
    /// The AS exchange was armoured with FAST.
    pub fast: bool,
}

/// Why a password was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordError {
    /// Wrong password, or no such user (the two are not told apart, to the user).
    WrongPassword,
    /// The password is right but expired (`KDC_ERR_KEY_EXPIRED`): it must be changed.
    PasswordExpired,
    /// The principal is locked or disabled (`KDC_ERR_CLIENT_REVOKED`; FreeIPA's lockout
    /// after failed attempts, or `nsAccountLock`).
    Locked,
    /// The principal itself has expired (`KDC_ERR_NAME_EXP`).
    PrincipalExpired,
    /// The name is not a principal name, or contains NUL.
    BadName(String),
    /// The KDC could not be reached or the realm is unknown: try again later.
    Unavailable(String),
    /// The KDC's answer could not be proved against the service keytab (a spoofed KDC,
    /// or a keytab out of date).
    NotVerified(String),
    /// Anything else the library reported.
    Other(String),
}

impl std::fmt::Display for PasswordError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::WrongPassword => f.write_str("wrong password or unknown user"),
            Self::PasswordExpired => f.write_str("the password has expired"),
            Self::Locked => f.write_str("the account is locked or disabled"),
            Self::PrincipalExpired => f.write_str("the account has expired"),
            Self::BadName(m) => write!(f, "not a principal name: {m}"),
            Self::Unavailable(m) => write!(f, "the KDC is unavailable: {m}"),
            Self::NotVerified(m) => write!(f, "the ticket could not be verified: {m}"),
            Self::Other(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for PasswordError {}

/// Checks passwords for one service: its principal and keytab.
#[derive(Debug, Clone)]
pub struct Verifier {
    service: CString,
    keytab: CString,
}

impl Verifier {
    /// `service`: the service's principal in `keytab` (e.g.
    /// `HTTP/idp.example.com@EXAMPLE.COM`); `keytab`: a keytab name (`FILE:/path` or a
    /// path). `None` if either contains a NUL byte.
    pub fn new(service: &str, keytab: &str) -> Option<Self> {
        Some(Self {
            service: CString::new(service).ok()?,
            keytab: CString::new(keytab).ok()?,
        })
    }

    /// Checks `password` for `user` (a principal name; without `@REALM`, the default
    /// realm of krb5.conf). Blocks.
    pub fn verify(&self, user: &str, password: &str) -> Result<Verified, PasswordError> {
        let user_c = CString::new(user).map_err(|_| PasswordError::BadName("NUL byte".into()))?;
        let mut secret = Secret::new(password).ok_or(PasswordError::WrongPassword)?;
        let ctx = Context::new()?;
        let client = ctx.parse_name(&user_c).map_err(PasswordError::BadName)?;
        let principal = ctx.unparse(&client).map_err(PasswordError::Other)?;
        let server = ctx
            .parse_name(&self.service)
            .map_err(|m| PasswordError::Other(format!("service principal: {m}")))?;
        let keytab = ctx
            .keytab(&self.keytab)
            .map_err(|m| PasswordError::Other(format!("keytab: {m}")))?;
        let opts = ctx.init_creds_opt().map_err(PasswordError::Other)?;
        // FAST armour from the service's own TGT; without it, plain (see the module doc).
        let armour = ctx.armour(&server, &keytab).ok();
        if let Some(cc) = &armour {
            // SAFETY: ctx, opts and the name are live; the ccache outlives the AS exchange.
            let code = unsafe {
                sys::krb5_get_init_creds_opt_set_fast_ccache_name(ctx.0, opts.0, cc.name.as_ptr())
            };
            if code != 0 {
                return Err(PasswordError::Other(ctx.message(code)));
            }
        }
        let mut creds = Creds::zeroed(&ctx);
        // SAFETY: every pointer is live for the call; the prompter is none (an expired
        // password is reported, never changed here); creds is ours to fill and free.
        let code = unsafe {
            sys::krb5_get_init_creds_password(
                ctx.0,
                &mut creds.creds,
                client.0,
                secret.as_ptr(),
                None,
                ptr::null_mut(),
                0,
                ptr::null(),
                opts.0,
            )
        };
        secret.wipe();
        if code != 0 {
            return Err(classify(&ctx, code));
        }
        creds.filled = true;
        // The principal the KDC answered for (canonical: an alias the person typed
        // becomes the name FreeIPA keeps), falling back to the parsed one.
        let principal = ctx.unparse_raw(creds.creds.client).unwrap_or(principal);
        let mut vopt = sys::krb5_verify_init_creds_opt::default();
        // SAFETY: vopt is a plain struct we own; init then set the one flag.
        unsafe {
            sys::krb5_verify_init_creds_opt_init(&mut vopt);
            sys::krb5_verify_init_creds_opt_set_ap_req_nofail(&mut vopt, 1);
        }
        // SAFETY: creds was filled above; server and keytab are live; no ccache wanted.
        let code = unsafe {
            sys::krb5_verify_init_creds(
                ctx.0,
                &mut creds.creds,
                server.0,
                keytab.0,
                ptr::null_mut(),
                &mut vopt,
            )
        };
        if code != 0 {
            return Err(PasswordError::NotVerified(ctx.message(code)));
        }
        Ok(Verified {
            principal,
            fast: armour.is_some(),
        })
    }
}

/// Maps the AS exchange's error code.
fn classify(ctx: &Context, code: sys::krb5_error_code) -> PasswordError {
    let c = i64::from(code);
    let is = |k: i64| c == k;
    if is(sys::KRB5KDC_ERR_PREAUTH_FAILED as i64)
        || is(sys::KRB5KRB_AP_ERR_BAD_INTEGRITY as i64)
        || is(sys::KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN as i64)
        || is(sys::KRB5_PREAUTH_FAILED as i64)
    {
        PasswordError::WrongPassword
    } else if is(sys::KRB5KDC_ERR_KEY_EXP as i64) {
        PasswordError::PasswordExpired
    } else if is(sys::KRB5KDC_ERR_CLIENT_REVOKED as i64) {
        PasswordError::Locked
    } else if is(sys::KRB5KDC_ERR_NAME_EXP as i64) {
        PasswordError::PrincipalExpired
    } else if is(sys::KRB5_KDC_UNREACH as i64)
        || is(sys::KRB5_REALM_UNKNOWN as i64)
        || is(sys::KRB5_CONFIG_NODEFREALM as i64)
    {
        PasswordError::Unavailable(ctx.message(code))
    } else {
        PasswordError::Other(ctx.message(code))
    }
}

/// The password as a NUL-terminated buffer, overwritten after use.
struct Secret(Vec<u8>);

impl Secret {
    fn new(password: &str) -> Option<Self> {
        if password.as_bytes().contains(&0) {
            return None;
        }
        let mut v = Vec::with_capacity(password.len() + 1);
        v.extend_from_slice(password.as_bytes());
        v.push(0);
        Some(Self(v))
    }

    fn as_ptr(&self) -> *const c_char {
        self.0.as_ptr().cast()
    }

    fn wipe(&mut self) {
        for b in self.0.iter_mut() {
            // SAFETY: b is a valid, aligned &mut u8; volatile keeps the write.
            unsafe { ptr::write_volatile(b, 0) };
        }
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.wipe();
    }
}

struct Context(sys::krb5_context);

impl Context {
    fn new() -> Result<Self, PasswordError> {
        let mut c: sys::krb5_context = ptr::null_mut();
        // SAFETY: c is an out-pointer.
        let code = unsafe { sys::krb5_init_context(&mut c) };
        if code != 0 || c.is_null() {
            return Err(PasswordError::Unavailable(format!(
                "krb5_init_context failed ({code}): check krb5.conf"
            )));
        }
        Ok(Self(c))
    }

    fn message(&self, code: sys::krb5_error_code) -> String {
        // SAFETY: the context is live; the message is freed right after copying it.
        unsafe {
            let m = sys::krb5_get_error_message(self.0, code);
            if m.is_null() {
                return format!("krb5 error {code}");
            }
            let s = CStr::from_ptr(m).to_string_lossy().into_owned();
            sys::krb5_free_error_message(self.0, m);
            s
        }
    }

    fn parse_name(&self, name: &CStr) -> Result<Principal<'_>, String> {
        let mut p: sys::krb5_principal = ptr::null_mut();
        // SAFETY: name is NUL-terminated, p an out-pointer.
        let code = unsafe { sys::krb5_parse_name(self.0, name.as_ptr(), &mut p) };
        if code != 0 {
            return Err(self.message(code));
        }
        Ok(Principal(p, self))
    }

    fn unparse(&self, p: &Principal<'_>) -> Result<String, String> {
        self.unparse_raw(p.0)
    }

    /// Unparses a principal owned by something else (creds); `p` must be live.
    fn unparse_raw(&self, p: sys::krb5_principal) -> Result<String, String> {
        if p.is_null() {
            return Err("no principal".into());
        }
        let mut s: *mut c_char = ptr::null_mut();
        // SAFETY: p is live (checked non-null; owned by the caller), s an out-pointer
        // freed below.
        unsafe {
            let code = sys::krb5_unparse_name(self.0, p, &mut s);
            if code != 0 || s.is_null() {
                return Err(self.message(code));
            }
            let out = CStr::from_ptr(s).to_string_lossy().into_owned();
            sys::krb5_free_unparsed_name(self.0, s);
            Ok(out)
        }
    }

    fn keytab(&self, name: &CStr) -> Result<Keytab<'_>, String> {
        let mut kt: sys::krb5_keytab = ptr::null_mut();
        // SAFETY: name is NUL-terminated, kt an out-pointer.
        let code = unsafe { sys::krb5_kt_resolve(self.0, name.as_ptr(), &mut kt) };
        if code != 0 {
            return Err(self.message(code));
        }
        Ok(Keytab(kt, self))
    }

    fn init_creds_opt(&self) -> Result<Opts<'_>, String> {
        let mut o: *mut sys::krb5_get_init_creds_opt = ptr::null_mut();
        // SAFETY: o is an out-pointer.
        let code = unsafe { sys::krb5_get_init_creds_opt_alloc(self.0, &mut o) };
        if code != 0 || o.is_null() {
            return Err(self.message(code));
        }
        Ok(Opts(o, self))
    }

    /// A memory ccache holding a TGT of `server` from `keytab`, to armour AS-REQs with.
    fn armour(&self, server: &Principal<'_>, keytab: &Keytab<'_>) -> Result<Armour<'_>, String> {
        let mut creds = Creds::zeroed(self);
        // SAFETY: all pointers live; default options (NULL).
        let code = unsafe {
            sys::krb5_get_init_creds_keytab(
                self.0,
                &mut creds.creds,
                server.0,
                keytab.0,
                0,
                ptr::null(),
                ptr::null_mut(),
            )
        };
        if code != 0 {
            return Err(self.message(code));
        }
        creds.filled = true;
        let mut cc: sys::krb5_ccache = ptr::null_mut();
        let memory = c"MEMORY";
        // SAFETY: out-pointer; the ccache is destroyed by Armour's Drop.
        let code =
            unsafe { sys::krb5_cc_new_unique(self.0, memory.as_ptr(), ptr::null(), &mut cc) };
        if code != 0 || cc.is_null() {
            return Err(self.message(code));
        }
        let mut armour = Armour {
            cc,
            ctx: self,
            name: CString::default(),
        };
        // SAFETY: cc, server and creds are live.
        unsafe {
            let code = sys::krb5_cc_initialize(self.0, cc, server.0);
            if code != 0 {
                return Err(self.message(code));
            }
            let code = sys::krb5_cc_store_cred(self.0, cc, &mut creds.creds);
            if code != 0 {
                return Err(self.message(code));
            }
            let n = sys::krb5_cc_get_name(self.0, cc);
            if n.is_null() {
                return Err("the armour ccache has no name".into());
            }
            let name = format!("MEMORY:{}", CStr::from_ptr(n).to_string_lossy());
            armour.name = CString::new(name).map_err(|e| e.to_string())?;
        }
        Ok(armour)
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        // SAFETY: every object made from the context borrows it, so they are gone.
        unsafe { sys::krb5_free_context(self.0) };
    }
}

struct Principal<'c>(sys::krb5_principal, &'c Context);

impl Drop for Principal<'_> {
    fn drop(&mut self) {
        // SAFETY: allocated by krb5_parse_name in this context.
        unsafe { sys::krb5_free_principal(self.1.0, self.0) };
    }
}

struct Keytab<'c>(sys::krb5_keytab, &'c Context);

impl Drop for Keytab<'_> {
    fn drop(&mut self) {
        // SAFETY: resolved in this context.
        unsafe { sys::krb5_kt_close(self.1.0, self.0) };
    }
}

struct Opts<'c>(*mut sys::krb5_get_init_creds_opt, &'c Context);

impl Drop for Opts<'_> {
    fn drop(&mut self) {
        // SAFETY: allocated in this context.
        unsafe { sys::krb5_get_init_creds_opt_free(self.1.0, self.0) };
    }
}

struct Creds<'c> {
    creds: sys::krb5_creds,
    filled: bool,
    ctx: &'c Context,
}

impl<'c> Creds<'c> {
    fn zeroed(ctx: &'c Context) -> Self {
        Self {
            creds: sys::krb5_creds::default(),
            filled: false,
            ctx,
        }
    }
}

impl Drop for Creds<'_> {
    fn drop(&mut self) {
        if self.filled {
            // SAFETY: filled by a successful get_init_creds call in this context.
            unsafe { sys::krb5_free_cred_contents(self.ctx.0, &mut self.creds) };
        }
    }
}

struct Armour<'c> {
    cc: sys::krb5_ccache,
    ctx: &'c Context,
    name: CString,
}

impl Drop for Armour<'_> {
    fn drop(&mut self) {
        // SAFETY: made by krb5_cc_new_unique in this context; destroy frees it.
        unsafe { sys::krb5_cc_destroy(self.ctx.0, self.cc) };
    }
}
