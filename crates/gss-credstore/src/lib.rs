//! Acquire a GSSAPI acceptor credential from an explicit credential store.
//!
//! MIT krb5's `gss_acquire_cred_from` (RFC 5588's credential-store extension, in
//! `gssapi_ext.h`) takes the keytab, the replay cache and other settings as key-value
//! pairs for *this* credential, instead of the process-global `KRB5_KTNAME` and
//! `KRB5RCACHEDIR` environment. libgssapi 0.11 has no safe wrapper for it, so this crate
//! holds the one FFI call, keeping `unsafe` out of ahdapa itself (which forbids it).
//!
//! The returned [`Cred`] is libgssapi's own type: reference-counted, `Send + Sync`, and
//! released with `gss_release_cred` when the last clone drops.

use std::ffi::{CString, c_void};
use std::ptr;

use libgssapi::credential::Cred;
use libgssapi::error::{Error, MajorFlags};
use libgssapi_sys as sys;

/// RFC 1964 §2.1.1 `GSS_KRB5_NT_PRINCIPAL_NAME`, 1.2.840.113554.1.2.2.1.
static KRB5_NT_PRINCIPAL_NAME: [u8; 10] =
    [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02, 0x01];

/// Why a credential could not be acquired.
#[derive(Debug)]
pub enum AcquireError {
    /// A key or value contains a NUL byte.
    Nul(&'static str),
    /// The principal name could not be imported.
    Name(Error),
    /// `gss_acquire_cred_from` failed (missing keytab, principal not in it, ...).
    Acquire(Error),
}

impl std::fmt::Display for AcquireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Nul(what) => write!(f, "{what} contains a NUL byte"),
            Self::Name(e) => write!(f, "cannot import the principal name: {e}"),
            Self::Acquire(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for AcquireError {}

/// Acquires an acceptor credential for `principal` (a Kerberos principal name such as
/// `HTTP/idp.example.com@EXAMPLE.COM`; `None` accepts any principal in the keytab) from
/// the credential store `store`, e.g. `[("keytab", "/etc/ahdapa/http.keytab"),
/// ("rcache", "file2:/var/lib/ahdapa/krb5.rcache")]`.
pub fn acquire_acceptor(
    principal: Option<&str>,
    store: &[(&str, &str)],
) -> Result<Cred, AcquireError> {
    let cred = acquire_raw(principal, store, sys::GSS_C_ACCEPT)?;
    // SAFETY: acquire_raw succeeded and handed us sole ownership of `cred`.
    Ok(unsafe { Cred::from_c(cred) })
}

/// Acquires an initiator credential for `principal` (`None`: the default) from the
/// credential store `store` (`client_keytab`, `ccache`), as libgssapi 0.11's type.
pub fn acquire_initiator(
    principal: Option<&str>,
    store: &[(&str, &str)],
) -> Result<Cred, AcquireError> {
    let cred = acquire_raw(principal, store, sys::GSS_C_INITIATE)?;
    // SAFETY: acquire_raw succeeded and handed us sole ownership of `cred`.
    Ok(unsafe { Cred::from_c(cred) })
}

/// Acquires an *initiator* credential for `principal` (`None`: the keytab's first
/// principal) from the credential store `store`, e.g.
/// `[("client_keytab", "/etc/ahdapa/ahdapa.keytab"), ("ccache", "MEMORY:ahdapa-ldap")]`:
/// MIT krb5 gets (and renews) tickets from the client keytab on its own, without the
/// process-global `KRB5_CLIENT_KTNAME`. The credential is libgssapi 0.9's type, which is
/// what ldap3's SASL/GSSAPI bind (through cross-krb5) takes.
pub fn acquire_initiator_v09(
    principal: Option<&str>,
    store: &[(&str, &str)],
) -> Result<libgssapi09::credential::Cred, AcquireError> {
    let cred = acquire_raw(principal, store, sys::GSS_C_INITIATE)?;
    // libgssapi 0.9's `From<gss_cred_id_t>` takes ownership and releases on last drop.
    Ok(libgssapi09::credential::Cred::from(cred))
}

fn acquire_raw(
    principal: Option<&str>,
    store: &[(&str, &str)],
    usage: u32,
) -> Result<sys::gss_cred_id_t, AcquireError> {
    let mut strings = Vec::with_capacity(store.len() * 2);
    for (k, v) in store {
        strings.push(CString::new(*k).map_err(|_| AcquireError::Nul("a credential store key"))?);
        strings.push(CString::new(*v).map_err(|_| AcquireError::Nul("a credential store value"))?);
    }
    let mut elements: Vec<sys::gss_key_value_element_desc> = strings
        .chunks_exact(2)
        .filter_map(|pair| match pair {
            [k, v] => Some(sys::gss_key_value_element_desc {
                key: k.as_ptr(),
                value: v.as_ptr(),
            }),
            _ => None,
        })
        .collect();
    let store_desc = sys::gss_key_value_set_desc {
        count: u32::try_from(elements.len())
            .map_err(|_| AcquireError::Nul("the credential store"))?,
        elements: elements.as_mut_ptr(),
    };

    let mut minor: sys::OM_uint32 = 0;
    let mut name: sys::gss_name_t = ptr::null_mut();
    if let Some(p) = principal {
        let mut oid = sys::gss_OID_desc {
            length: KRB5_NT_PRINCIPAL_NAME.len() as sys::OM_uint32,
            elements: KRB5_NT_PRINCIPAL_NAME.as_ptr() as *mut c_void,
        };
        let mut buf = sys::gss_buffer_desc {
            length: p.len(),
            value: p.as_ptr() as *mut c_void,
        };
        // SAFETY: `buf` and `oid` point at memory that outlives the call; gss_import_name
        // copies what it needs and writes a new name (or nothing on error) into `name`.
        let major = unsafe { sys::gss_import_name(&mut minor, &mut buf, &mut oid, &mut name) };
        if major != sys::GSS_S_COMPLETE {
            return Err(AcquireError::Name(Error {
                major: MajorFlags::from_bits_retain(major),
                minor,
            }));
        }
    }

    let mut cred: sys::gss_cred_id_t = ptr::null_mut();
    // SAFETY: `name` is null (GSS_C_NO_NAME) or the name imported above; `store_desc`
    // points at `elements`, whose key/value pointers borrow `strings`, all alive until
    // after the call. GSS_C_NO_OID_SET (null) asks for the default mechanisms (krb5 and
    // SPNEGO). The optional out-parameters are null.
    let major = unsafe {
        sys::gss_acquire_cred_from(
            &mut minor,
            name,
            sys::_GSS_C_INDEFINITE,
            ptr::null_mut(),
            usage as sys::gss_cred_usage_t,
            &store_desc,
            &mut cred,
            ptr::null_mut(),
            ptr::null_mut(),
        )
    };
    if !name.is_null() {
        let mut release_minor: sys::OM_uint32 = 0;
        // SAFETY: `name` was allocated by gss_import_name above and is released once.
        unsafe { sys::gss_release_name(&mut release_minor, &mut name) };
    }
    if major != sys::GSS_S_COMPLETE {
        return Err(AcquireError::Acquire(Error {
            major: MajorFlags::from_bits_retain(major),
            minor,
        }));
    }
    Ok(cred)
}
