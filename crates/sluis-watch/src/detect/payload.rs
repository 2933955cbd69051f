//! Payloads: the first bytes of a flow, read for cleartext protocols and a TLS ClientHello's server name. A hostile-input parser, under the lints.

#![deny(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation
)]

#[allow(clippy::wildcard_imports)]
use super::*;

impl Watch {
    pub(super) fn inspect_payload(
        &mut self,
        ts: Micros,
        init: (IpAddr, u16),
        resp: (IpAddr, u16),
        proto_num: u8,
        payload: &[u8],
    ) {
        if proto_num != proto::TCP {
            return;
        }
        let from = self.policy.name_of(&init.0);
        let to = self.policy.name_of(&resp.0);
        if let Some(sni) = tls_client_hello_sni(payload) {
            let a = Alert::new(
                ts,
                Rule::TlsOutsidePolicy,
                format!("{from} opened TLS to {to}:{} (SNI {sni:?})", resp.1),
            )
            .flow(init, resp, proto_num)
            .with("sni", sni);
            self.raise(
                key_hash((Rule::TlsOutsidePolicy, init.0, resp.0, resp.1)),
                a,
            );
            return;
        }
        if let Some((protocol, detail)) = cleartext(payload) {
            let a = Alert::new(
                ts,
                Rule::Cleartext,
                format!("{from} speaks {protocol} in clear to {to}:{}", resp.1),
            )
            .flow(init, resp, proto_num)
            .with("protocol", protocol)
            .with("first_line", detail);
            self.raise(key_hash((Rule::Cleartext, init.0, resp.0, resp.1)), a);
        }
    }
}

/// The first line of a cleartext protocol, if the payload starts like one.
pub(super) fn cleartext(payload: &[u8]) -> Option<(&'static str, String)> {
    let line = |p: &[u8]| -> String {
        let end = p
            .iter()
            .position(|b| *b == b'\r' || *b == b'\n')
            .unwrap_or(p.len())
            .min(120);
        String::from_utf8_lossy(p.get(..end).unwrap_or_default()).into_owned()
    };
    for method in [
        &b"GET "[..],
        b"POST ",
        b"PUT ",
        b"HEAD ",
        b"CONNECT ",
        b"OPTIONS ",
        b"DELETE ",
        b"PATCH ",
    ] {
        if payload.starts_with(method) {
            return Some(("HTTP", line(payload)));
        }
    }
    if payload.starts_with(b"USER ") || payload.starts_with(b"AUTH ") {
        return Some(("FTP", line(payload)));
    }
    if payload.first() == Some(&0xff) && payload.get(1).is_some_and(|b| (0xfb..=0xfe).contains(b)) {
        return Some(("Telnet", String::new()));
    }
    if payload.starts_with(b"EHLO ") || payload.starts_with(b"HELO ") {
        return Some(("SMTP", line(payload)));
    }
    None
}

/// The server name of a TLS ClientHello, read with bounds checks at every step (no TLS library
/// parses a ClientHello from a foreign flow without becoming its endpoint). `Some("")` for a
/// ClientHello without SNI.
pub(super) fn tls_client_hello_sni(p: &[u8]) -> Option<String> {
    struct Cursor<'a>(&'a [u8]);
    impl<'a> Cursor<'a> {
        fn take(&mut self, n: usize) -> Option<&'a [u8]> {
            let head = self.0.get(..n)?;
            self.0 = self.0.get(n..)?;
            Some(head)
        }
        fn u8(&mut self) -> Option<usize> {
            self.take(1)
                .and_then(|b| b.first())
                .map(|b| usize::from(*b))
        }
        fn u16(&mut self) -> Option<usize> {
            let b = self.take(2)?;
            Some(usize::from(u16::from_be_bytes([*b.first()?, *b.get(1)?])))
        }
    }
    let mut c = Cursor(p);
    if c.u8()? != 0x16 || c.u8()? != 3 {
        return None;
    }
    let _minor = c.u8()?;
    let _record_len = c.u16()?;
    if c.u8()? != 1 {
        return None; // not a ClientHello
    }
    let _hs_len = c.take(3)?;
    let _version = c.take(2)?;
    let _random = c.take(32)?;
    let sid = c.u8()?;
    c.take(sid)?;
    let suites = c.u16()?;
    c.take(suites)?;
    let comp = c.u8()?;
    c.take(comp)?;
    let Some(ext_len) = c.u16() else {
        return Some(String::new());
    };
    let mut exts = Cursor(c.take(ext_len).unwrap_or(c.0));
    while let (Some(kind), Some(len)) = (exts.u16(), exts.u16()) {
        let body = exts.take(len)?;
        if kind == 0 {
            let mut b = Cursor(body);
            let _list = b.u16()?;
            if b.u8()? == 0 {
                let n = b.u16()?;
                let name = b.take(n)?;
                return Some(String::from_utf8_lossy(name).into_owned());
            }
        }
    }
    Some(String::new())
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
mod tests {
    use super::*;

    #[test]
    fn sni_is_read_and_truncation_is_safe() {
        // A minimal ClientHello with SNI "c2.example".
        let name = b"c2.example";
        let mut sni = vec![0, 0];
        let list_len = 3 + name.len();
        sni.extend_from_slice(&u16::try_from(list_len + 2).unwrap().to_be_bytes());
        sni.extend_from_slice(&u16::try_from(list_len).unwrap().to_be_bytes());
        sni.push(0);
        sni.extend_from_slice(&u16::try_from(name.len()).unwrap().to_be_bytes());
        sni.extend_from_slice(name);
        let mut hello = vec![3, 3];
        hello.extend_from_slice(&[7; 32]);
        hello.push(0);
        hello.extend_from_slice(&[0, 2, 0x13, 0x01, 1, 0]);
        hello.extend_from_slice(&u16::try_from(sni.len()).unwrap().to_be_bytes());
        hello.extend_from_slice(&sni);
        let mut hs = vec![1, 0];
        hs.extend_from_slice(&u16::try_from(hello.len()).unwrap().to_be_bytes());
        hs.extend_from_slice(&hello);
        let mut rec = vec![0x16, 3, 1];
        rec.extend_from_slice(&u16::try_from(hs.len()).unwrap().to_be_bytes());
        rec.extend_from_slice(&hs);
        assert_eq!(tls_client_hello_sni(&rec).as_deref(), Some("c2.example"));
        for cut in 0..rec.len() {
            let _ = tls_client_hello_sni(&rec[..cut]);
        }
        assert_eq!(
            cleartext(b"GET /x HTTP/1.1\r\nHost: a\r\n").unwrap().0,
            "HTTP"
        );
        assert!(cleartext(b"\x16\x03\x01").is_none());
    }
}
