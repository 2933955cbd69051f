//! Writes seed inputs for the `link` fuzz target into the directory given: sequences of real
//! datagrams (`u16 length || bytes` each) and of the fixture's own ("0xFFFF").

use std::path::PathBuf;

use sluis_link::{Coding, EdgeKey, Sender};

fn framed(datagrams: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for d in datagrams {
        out.extend_from_slice(&(d.len().min(0xFFFE) as u16).to_be_bytes());
        out.extend_from_slice(&d[..d.len().min(0xFFFE)]);
    }
    out
}

fn main() -> std::io::Result<()> {
    let dir = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "seeds".into()));
    std::fs::create_dir_all(&dir)?;
    let coding = Coding {
        mtu: 600,
        symbols_per_block: 4,
        ..Coding::default()
    };
    // Objects signed by another key than the fixture's: the fuzzer mutates real structure.
    let mut s = Sender::new(EdgeKey::from_seed([1; 32]), coding, 1);
    for (i, len) in [0usize, 1, 700, 3000].into_iter().enumerate() {
        let object: Vec<u8> = (0..len).map(|j| (j * 31 + i) as u8).collect();
        let id = i as u64 + 1;
        let mut grams = vec![s.start(id, len as u64, b"{\"source\":\"seed\"}")];
        let shape = coding.shape(len as u64);
        for b in 0..shape.blocks() {
            let (a, e) = shape.block_range(b).unwrap_or((0, 0));
            s.block(
                id,
                len as u64,
                b as u32,
                &object[a as usize..e as usize],
                &mut |d| grams.push(d.to_vec()),
            );
        }
        let digest = sluis_link::wire::object_digest(&object);
        grams.push(s.end(id, len as u64, &digest, b"{}"));
        grams.push(s.heartbeat(5, id + 1, 1, 1000));
        grams.push(s.manifest(&[(id, len as u64)]));
        std::fs::write(dir.join(format!("object-{id}")), framed(&grams))?;
    }
    // The fixture's real object, whole, and with every third datagram lost.
    std::fs::write(dir.join("real"), [0xFF; 2].repeat(64))?;
    let mut gappy = Vec::new();
    for i in 0..64 {
        if i % 3 != 0 {
            gappy.extend_from_slice(&[0xFF, 0xFF]);
        } else {
            gappy.extend_from_slice(&[0, 3]);
            gappy.extend_from_slice(b"SL\x01");
        }
    }
    std::fs::write(dir.join("real-gappy"), gappy)?;
    Ok(())
}
