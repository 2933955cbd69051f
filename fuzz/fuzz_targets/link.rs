//! Fuzzes the link receiver, the core's first contact with the enclave. The input is a sequence
//! of datagrams (each `u16 length || bytes`; a length of 0xFFFF stands for "the next datagram of a
//! real object signed by the edge"), with the clock advancing as they arrive. No panic, memory
//! within the limits, and nothing delivered but the real object, bit-exact.
#![no_main]

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use sluis_link::receiver::Event;
use sluis_link::{wire, Coding, EdgeKey, Ledger, MemWorkspace, Receiver, ReceiverLimits, ReceiverMetrics, Sender};

struct Fixture {
    object: Vec<u8>,
    datagrams: Vec<Vec<u8>>,
}

fn key() -> EdgeKey {
    EdgeKey::from_seed([42; 32])
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let object: Vec<u8> = (0..40_000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
        let coding = Coding { mtu: 1500, symbols_per_block: 8, ..Coding::default() };
        let mut s = Sender::new(key(), coding, 1);
        let mut datagrams = vec![s.start(1, object.len() as u64, b"{}")];
        let shape = coding.shape(object.len() as u64);
        for b in 0..shape.blocks() {
            let (a, e) = shape.block_range(b).expect("block");
            s.block(1, object.len() as u64, b as u32, &object[a as usize..e as usize], &mut |d| datagrams.push(d.to_vec()));
        }
        let digest = wire::object_digest(&object);
        datagrams.push(s.end(1, object.len() as u64, &digest, b"{}"));
        datagrams.push(s.heartbeat(1, 2, 0, 1000));
        Fixture { object, datagrams }
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let limits = ReceiverLimits {
        max_object_bytes: 1 << 20,
        max_sessions: 4,
        max_buffer_bytes: 1 << 20,
        max_blocks_in_flight: 4,
        ..ReceiverLimits::default()
    };
    let t0 = Instant::now();
    let mut rx = Receiver::new(limits, key().verifier(), MemWorkspace::default(), Ledger::new(), ReceiverMetrics::default(), t0);
    let mut rest = data;
    let mut next_real = 0usize;
    let mut step = 0u64;
    while let Some((len, after)) = rest.split_first_chunk::<2>() {
        let len = u16::from_be_bytes(*len);
        let now = t0 + Duration::from_millis(step * 7);
        step += 1;
        if len == 0xFFFF {
            if let Some(d) = f.datagrams.get(next_real) {
                rx.handle(d, now);
            }
            next_real += 1;
            rest = after;
        } else {
            let n = usize::from(len).min(after.len());
            let (d, after) = after.split_at(n);
            // The codec: whatever decodes re-encodes to the same bytes.
            if let Ok((h, wire::Record::Data { shape, block, symbol_id, symbol })) = wire::decode(d) {
                let mut again = Vec::new();
                wire::put_data_header(&mut again, &h, &shape, block, symbol_id);
                again.extend_from_slice(symbol);
                wire::seal(&mut again);
                assert_eq!(again, d, "data records round-trip");
            }
            rx.handle(d, now);
            rest = after;
        }
        assert!(rx.buffered_bytes() <= limits.max_buffer_bytes);
        assert!(rx.sessions() <= limits.max_sessions);
        if step % 16 == 0 {
            rx.tick(now);
        }
        while let Some(ev) = rx.poll_event() {
            if let Event::Delivered(o) = ev {
                assert_eq!(o.id(), 1, "only the real object can be delivered");
                assert!(o.location() == &f.object, "delivered bytes must be the real object's");
            }
        }
    }
    rx.tick(t0 + Duration::from_secs(3600));
    while let Some(ev) = rx.poll_event() {
        if let Event::Delivered(o) = ev {
            assert!(o.id() == 1 && o.location() == &f.object);
        }
    }
});
