//! Writes seeds for the fuzz target `dimse` into the directory given: command sets (first
//! byte even) and association streams after the handshake (first byte odd) as a scanner sends
//! them: a C-ECHO, C-STOREs in one and in several fragments, a release.

use sluis_edge::dimse::command::{C_ECHO_RQ, Command, response, store_rq};

const CLASS: &str = "1.2.840.10008.5.1.4.1.1.501.1";

fn pdata(pcid: u8, control: u8, value: &[u8]) -> Vec<u8> {
    let item = u32::try_from(value.len() + 2).unwrap_or(u32::MAX);
    let mut out = vec![0x04, 0];
    out.extend_from_slice(&item.saturating_add(4).to_be_bytes());
    out.extend_from_slice(&item.to_be_bytes());
    out.extend_from_slice(&[pcid, control]);
    out.extend_from_slice(value);
    out
}

fn main() -> std::io::Result<()> {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| ".".into()));
    std::fs::create_dir_all(&dir)?;
    let write = |name: &str, mode: u8, bytes: &[u8]| {
        let mut v = vec![mode];
        v.extend_from_slice(bytes);
        std::fs::write(dir.join(name), v)
    };
    let rq = store_rq(1, CLASS, "1.2.826.0.1.3680043.8.498.1");
    write("command-store", 0, &rq)?;
    let echo = response(C_ECHO_RQ, &Command::default(), 0);
    write("command-echo", 2, &echo)?;
    let mut stream = pdata(1, 0x03, &echo);
    stream.extend(pdata(1, 0x03, &rq));
    stream.extend(pdata(
        1,
        0x00,
        &[0x08, 0x00, 0x16, 0x00, b'U', b'I', 2, 0, b'1', 0],
    ));
    stream.extend(pdata(
        1,
        0x02,
        &[0x28, 0x00, 0x10, 0x00, b'U', b'S', 2, 0, 4, 0],
    ));
    stream.extend(pdata(3, 0x01, &rq[..20]));
    stream.extend(pdata(3, 0x03, &rq[20..]));
    stream.extend(pdata(3, 0x02, &[0u8; 300]));
    stream.extend([0x05, 0, 0, 0, 0, 4, 0, 0, 0, 0]);
    write("association", 255, &stream)?;
    write("association-small-limit", 1, &stream)?;
    Ok(())
}
