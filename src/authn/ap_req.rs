//! Reading a Negotiate token far enough to find the Kerberos AP-REQ inside it, without
//! trusting it: a small, bounds-checked DER walk that never panics.
//!
//! Two reasons to look inside before GSSAPI does:
//! - to refuse what we never accept (NTLM, SPNEGO without an optimistic Kerberos token,
//!   garbage) with a precise log reason, and
//! - to compute the replay digest shared across ahdapa nodes: SHA-256 of the
//!   authenticator's ciphertext (RFC 4120 §5.5.1), the part every replay must repeat
//!   byte for byte, whatever GSS or SPNEGO wrapping surrounds it.
//!
//! Formats: RFC 2743 §3.1 InitialContextToken (`60 len 06 oid inner`); RFC 4178 SPNEGO
//! NegTokenInit with `mechToken`; RFC 4121 §4.1 krb5 token `01 00 || AP-REQ`; a bare
//! RFC 4120 §5.5.1 AP-REQ (`6e ...`).

use aws_lc_rs::digest;

const OID_SPNEGO: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x02];
const OID_KRB5: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02];
const OID_KRB5_MS: &[u8] = &[0x2a, 0x86, 0x48, 0x82, 0xf7, 0x12, 0x01, 0x02, 0x02];
const NTLMSSP: &[u8] = b"NTLMSSP\0";

/// What the token was, when it was not a Kerberos AP-REQ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotApReq {
    /// NTLM (raw or inside SPNEGO): never accepted.
    Ntlm,
    /// SPNEGO without a Kerberos mechToken: it would need another round trip.
    SpnegoWithoutKerberos,
    /// Anything else that does not parse.
    Garbage,
}

impl NotApReq {
    /// The log reason.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Ntlm => "NTLM token (only Kerberos is accepted)",
            Self::SpnegoWithoutKerberos => {
                "SPNEGO token without a Kerberos AP-REQ (would need a second round trip)"
            }
            Self::Garbage => "not a Kerberos or SPNEGO token",
        }
    }
}

/// SHA-256 of the authenticator ciphertext of the AP-REQ carried by `token`.
pub fn replay_digest(token: &[u8]) -> Result<[u8; 32], NotApReq> {
    let ap_req = find_ap_req(token)?;
    let cipher = authenticator_cipher(ap_req).ok_or(NotApReq::Garbage)?;
    let mut out = [0u8; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, cipher).as_ref());
    Ok(out)
}

fn find_ap_req(token: &[u8]) -> Result<&[u8], NotApReq> {
    if token.starts_with(NTLMSSP) {
        return Err(NotApReq::Ntlm);
    }
    let (tag, body, _) = tlv(token).ok_or(NotApReq::Garbage)?;
    if tag == 0x6e {
        // A bare AP-REQ, without the RFC 2743 framing (some HTTP clients send these).
        return Ok(token);
    }
    if tag != 0x60 {
        return Err(NotApReq::Garbage);
    }
    let (oid_tag, oid, inner) = tlv(body).ok_or(NotApReq::Garbage)?;
    if oid_tag != 0x06 {
        return Err(NotApReq::Garbage);
    }
    if oid == OID_KRB5 || oid == OID_KRB5_MS {
        return krb5_inner(inner);
    }
    if oid != OID_SPNEGO {
        return Err(NotApReq::Garbage);
    }
    // NegotiationToken ::= CHOICE { negTokenInit [0] NegTokenInit, ... }
    let (choice, init, _) = tlv(inner).ok_or(NotApReq::Garbage)?;
    if choice != 0xa0 {
        return Err(NotApReq::Garbage);
    }
    let (seq, mut fields, _) = tlv(init).ok_or(NotApReq::Garbage)?;
    if seq != 0x30 {
        return Err(NotApReq::Garbage);
    }
    while !fields.is_empty() {
        let (tag, value, rest) = tlv(fields).ok_or(NotApReq::Garbage)?;
        if tag == 0xa2 {
            // mechToken [2] OCTET STRING
            let (octets, mech_token, _) = tlv(value).ok_or(NotApReq::Garbage)?;
            if octets != 0x04 {
                return Err(NotApReq::Garbage);
            }
            if mech_token.starts_with(NTLMSSP) {
                return Err(NotApReq::Ntlm);
            }
            let (t, b, _) = tlv(mech_token).ok_or(NotApReq::SpnegoWithoutKerberos)?;
            let (ot, o, inner) = tlv(b).ok_or(NotApReq::SpnegoWithoutKerberos)?;
            if t != 0x60 || ot != 0x06 || (o != OID_KRB5 && o != OID_KRB5_MS) {
                return Err(NotApReq::SpnegoWithoutKerberos);
            }
            return krb5_inner(inner);
        }
        fields = rest;
    }
    Err(NotApReq::SpnegoWithoutKerberos)
}

/// RFC 4121 §4.1: TOK_ID `01 00` then the AP-REQ.
fn krb5_inner(inner: &[u8]) -> Result<&[u8], NotApReq> {
    match inner {
        [0x01, 0x00, ap_req @ ..] => Ok(ap_req),
        _ => Err(NotApReq::Garbage),
    }
}

/// AP-REQ ::= [APPLICATION 14] SEQUENCE { ..., authenticator [4] EncryptedData }
/// EncryptedData ::= SEQUENCE { etype [0], kvno [1] OPTIONAL, cipher [2] OCTET STRING }
fn authenticator_cipher(ap_req: &[u8]) -> Option<&[u8]> {
    let (app, body, _) = tlv(ap_req)?;
    if app != 0x6e {
        return None;
    }
    let (seq, mut fields, _) = tlv(body)?;
    if seq != 0x30 {
        return None;
    }
    while !fields.is_empty() {
        let (tag, value, rest) = tlv(fields)?;
        if tag == 0xa4 {
            let (seq, mut enc, _) = tlv(value)?;
            if seq != 0x30 {
                return None;
            }
            while !enc.is_empty() {
                let (t, v, r) = tlv(enc)?;
                if t == 0xa2 {
                    let (octets, cipher, _) = tlv(v)?;
                    return (octets == 0x04 && !cipher.is_empty()).then_some(cipher);
                }
                enc = r;
            }
            return None;
        }
        fields = rest;
    }
    None
}

/// One DER TLV: (tag, value, rest). Single-byte tags; definite lengths up to 4 bytes.
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let (len_bytes, rest) = rest.split_at(n);
        (
            len_bytes
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b)),
            rest,
        )
    };
    if rest.len() < len {
        return None;
    }
    let (value, rest) = rest.split_at(len);
    Some((tag, value, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn der(tag: u8, value: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        if value.len() < 0x80 {
            out.push(value.len() as u8);
        } else {
            out.push(0x82);
            out.extend_from_slice(&(value.len() as u16).to_be_bytes());
        }
        out.extend_from_slice(value);
        out
    }

    fn ap_req(cipher: &[u8]) -> Vec<u8> {
        let enc = der(
            0x30,
            &[der(0xa0, &der(0x02, &[18])), der(0xa2, &der(0x04, cipher))].concat(),
        );
        let fields = [
            der(0xa0, &der(0x02, &[5])),
            der(0xa1, &der(0x02, &[14])),
            der(0xa2, &der(0x03, &[0, 0, 0, 0, 0])),
            der(0xa3, &der(0x61, &[0; 40])),
            der(0xa4, &enc),
        ]
        .concat();
        der(0x6e, &der(0x30, &fields))
    }

    fn krb5_token(cipher: &[u8]) -> Vec<u8> {
        der(
            0x60,
            &[der(0x06, OID_KRB5), vec![1, 0], ap_req(cipher)].concat(),
        )
    }

    fn spnego(mech_token: &[u8]) -> Vec<u8> {
        let init = der(
            0x30,
            &[
                der(0xa0, &der(0x30, &der(0x06, OID_KRB5))),
                der(0xa2, &der(0x04, mech_token)),
            ]
            .concat(),
        );
        der(0x60, &[der(0x06, OID_SPNEGO), der(0xa0, &init)].concat())
    }

    #[test]
    fn same_authenticator_gives_same_digest_in_any_wrapping() {
        let raw = replay_digest(&krb5_token(b"ciphertext")).unwrap();
        let wrapped = replay_digest(&spnego(&krb5_token(b"ciphertext"))).unwrap();
        assert_eq!(raw, wrapped);
        assert_ne!(raw, replay_digest(&krb5_token(b"other")).unwrap());
    }

    #[test]
    fn bare_ap_req_has_the_same_digest() {
        assert_eq!(
            replay_digest(&ap_req(b"ciphertext")),
            replay_digest(&krb5_token(b"ciphertext"))
        );
    }

    #[test]
    fn long_form_lengths_parse() {
        let cipher = vec![7u8; 300];
        assert!(replay_digest(&spnego(&krb5_token(&cipher))).is_ok());
    }

    #[test]
    fn refuses_ntlm_raw_and_wrapped() {
        assert_eq!(
            replay_digest(b"NTLMSSP\0\x01\x00\x00\x00"),
            Err(NotApReq::Ntlm)
        );
        assert_eq!(
            replay_digest(&spnego(b"NTLMSSP\0\x01")),
            Err(NotApReq::Ntlm)
        );
    }

    #[test]
    fn refuses_spnego_without_mech_token() {
        let init = der(0x30, &der(0xa0, &der(0x30, &der(0x06, OID_KRB5))));
        let token = der(0x60, &[der(0x06, OID_SPNEGO), der(0xa0, &init)].concat());
        assert_eq!(replay_digest(&token), Err(NotApReq::SpnegoWithoutKerberos));
    }

    #[test]
    fn garbage_and_truncation_never_panic() {
        let good = spnego(&krb5_token(b"ciphertext"));
        for n in 0..good.len() {
            let _ = replay_digest(&good[..n]);
        }
        for bytes in [
            &b""[..],
            b"\x60",
            b"\x60\x84\xff\xff\xff\xff",
            b"\x60\x80",
            b"hello world",
        ] {
            assert!(replay_digest(bytes).is_err());
        }
    }
}
