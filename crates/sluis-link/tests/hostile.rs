//! Hostile datagrams: the receiver keeps running, stays within its memory bound, stores nothing
//! forged, and a legitimate object sent afterwards arrives.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rand::{Rng as _, RngExt as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;
use sluis_link::wire::{self, Header, Kind, Shape};
use sluis_link::{Coding, EdgeKey, ReceiverLimits, Sender};

use crate::channel::{Outcome, check, datagrams, drain, key, object, receiver};

fn legit_after(rx: &mut crate::channel::Rx, t: Instant, id: u64) {
    let data = object(99, 2_000_000);
    let mut sender = Sender::new(key(), Coding::default());
    for d in datagrams(&mut sender, id, &data) {
        rx.handle(&d, t);
    }
    let mut out = BTreeMap::new();
    drain(rx, &mut out);
    assert!(
        matches!(out.get(&id), Some(Outcome::Delivered(got, false)) if *got == data),
        "legitimate object after the attack: {:?}",
        out.get(&id).map(|o| match o {
            Outcome::Delivered(..) => "delivered altered".to_string(),
            Outcome::Lost(r) | Outcome::Rejected(r) => r.clone(),
        })
    );
}

#[test]
fn short_random_and_truncated_datagrams_are_counted_and_ignored() {
    let t0 = Instant::now();
    let mut rx = receiver(ReceiverLimits::default(), t0);
    let mut r = ChaCha8Rng::seed_from_u64(3);
    for d in [&b""[..], b"S", b"SL", b"SL\x01"] {
        rx.handle(d, t0);
    }
    // Random datagrams of every size up to a jumbo frame, some with our magic and version.
    for i in 0..20_000 {
        let mut d = vec![0u8; r.random_range(0..9000)];
        r.fill_bytes(&mut d);
        if i % 2 == 0 && d.len() >= 4 {
            d[..3].copy_from_slice(b"SL\x01");
            d[3] = r.random_range(1..7);
        }
        rx.handle(&d, t0);
    }
    // Every prefix of real datagrams.
    let mut sender = Sender::new(key(), Coding::default());
    for d in datagrams(&mut sender, 1, &object(1, 5000)) {
        for n in 0..d.len() {
            rx.handle(&d[..n], t0);
        }
    }
    assert!(rx.buffered_bytes() <= ReceiverLimits::default().max_buffer_bytes);
    rx.tick(t0 + Duration::from_secs(60));
    let mut out = BTreeMap::new();
    drain(&mut rx, &mut out);
    assert!(
        out.values().all(|o| !matches!(o, Outcome::Delivered(..))),
        "nothing forged is delivered: {out:?}"
    );
    legit_after(&mut rx, t0 + Duration::from_secs(61), 1);
}

#[test]
fn forged_objects_signed_by_another_key_are_never_delivered() {
    let t0 = Instant::now();
    let mut rx = receiver(ReceiverLimits::default(), t0);
    let mut forger = Sender::new(EdgeKey::from_seed([9; 32]), Coding::default());
    for d in datagrams(&mut forger, 1, &object(5, 100_000)) {
        rx.handle(&d, t0);
    }
    // A forged heartbeat must not move the high-water mark.
    rx.handle(&forger.heartbeat(5, 1_000_000, 0, 1000), t0);
    assert_eq!(rx.ledger().sent_below, 0);
    let mut out = BTreeMap::new();
    drain(&mut rx, &mut out);
    assert!(out.is_empty(), "{out:?}");
    // The real edge's object 1 replaces the forged partial session when its signed End arrives.
    rx.tick(t0 + Duration::from_secs(11));
    legit_after(&mut rx, t0 + Duration::from_secs(12), 1);
}

#[test]
fn injected_symbols_during_a_transfer_reject_the_object_instead_of_corrupting_it() {
    // lidi 2.1.1 delivers a silently corrupted file when random datagrams of its packet size
    // arrive during a transfer; here they must lead to rejection (or be absorbed), never to
    // altered bytes.
    let t0 = Instant::now();
    let mut rx = receiver(ReceiverLimits::default(), t0);
    let mut sender = Sender::new(key(), Coding::default());
    let data = object(7, 3_000_000);
    let ds = datagrams(&mut sender, 1, &data);
    let mut r = ChaCha8Rng::seed_from_u64(11);
    for (i, d) in ds.iter().enumerate() {
        if i % 100 == 50 && d.len() > wire::DATA_HEADER_LEN {
            // Same header, random symbol, a symbol id the sender also uses.
            // An attacker in the enclave computes the CRC, so only the signature stops this.
            let mut evil = d[..d.len() - wire::TRAILER_LEN].to_vec();
            r.fill_bytes(&mut evil[wire::DATA_HEADER_LEN..]);
            wire::seal(&mut evil);
            rx.handle(&evil, t0);
        }
        rx.handle(d, t0);
    }
    let mut out = BTreeMap::new();
    drain(&mut rx, &mut out);
    check(std::slice::from_ref(&data), &out);
    assert!(
        matches!(out.get(&1), Some(Outcome::Rejected(r)) if r.contains("signed digest")),
        "{out:?}"
    );
}

#[test]
fn oversized_declared_lengths_and_floods_of_sessions_stay_within_the_memory_bound() {
    let t0 = Instant::now();
    let limits = ReceiverLimits {
        max_buffer_bytes: 8 << 20,
        max_sessions: 8,
        ..ReceiverLimits::default()
    };
    let mut rx = receiver(limits, t0);
    let t = Coding::default().symbol_size();
    let mut r = ChaCha8Rng::seed_from_u64(4);
    let mut seq = 0;
    let mut data = |object: u64, length: u64, block: u32, symbol_id: u32| {
        let mut d = Vec::new();
        seq += 1;
        let h = Header {
            kind: Kind::Data,
            epoch: 1,
            seq,
            object,
        };
        let shape = Shape {
            length,
            symbols_per_block: 1024,
            symbol_size: t,
        };
        wire::put_data_header(&mut d, &h, &shape, block, symbol_id);
        d.resize(d.len() + usize::from(t), 0xAA);
        wire::seal(&mut d);
        d
    };
    // An object of 1 TiB and one past u64 blocks: refused before anything is allocated.
    rx.handle(&data(1, 1 << 40, 0, 0), t0);
    rx.handle(&data(2, u64::MAX, 0, 0), t0);
    assert_eq!(rx.sessions(), 0);
    // A flood of new sessions with symbols for many blocks.
    for i in 0..200_000u64 {
        let id = r.random_range(1..100_000);
        rx.handle(&data(id, 1 << 29, (i % 300) as u32, (i % 1000) as u32), t0);
        assert!(rx.buffered_bytes() <= limits.max_buffer_bytes);
        assert!(rx.sessions() <= limits.max_sessions);
    }
    // Once the flood has stopped for a second, the idle forged sessions make room.
    legit_after(&mut rx, t0 + Duration::from_secs(2), 100_000);
}
