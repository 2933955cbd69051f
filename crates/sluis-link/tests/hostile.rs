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
    let mut sender = Sender::new(key(), Coding::default(), 1);
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
    let mut sender = Sender::new(key(), Coding::default(), 1);
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
    let mut forger = Sender::new(EdgeKey::from_seed([9; 32]), Coding::default(), 1);
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
    let mut sender = Sender::new(key(), Coding::default(), 1);
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

/// Unsigned data datagrams for `object`, declared `length` bytes long, one full block's worth
/// of symbols (so that the block decodes) when `whole`, else one symbol.
fn junk(seq: &mut u64, object: u64, length: u64, block: u32, whole: bool) -> Vec<Vec<u8>> {
    let t = Coding::default().symbol_size();
    let k = if whole { 1024 } else { 1 };
    (0..k)
        .map(|symbol_id| {
            *seq += 1;
            let h = Header {
                kind: Kind::Data,
                epoch: 1,
                seq: *seq,
                object,
            };
            let shape = Shape {
                length,
                symbols_per_block: 1024,
                symbol_size: t,
            };
            let mut d = Vec::new();
            wire::put_data_header(&mut d, &h, &shape, block, symbol_id);
            d.resize(d.len() + usize::from(t), 0x5A);
            wire::seal(&mut d);
            d
        })
        .collect()
}

#[test]
fn unsigned_junk_sessions_starve_no_genuine_object_and_write_nothing_to_disk() {
    let t0 = Instant::now();
    let limits = ReceiverLimits::default();
    let mut rx = receiver(limits, t0);
    let mut sender = Sender::new(key(), Coding::default(), 1);
    let objects: Vec<Vec<u8>> = (0..40).map(|i| object(200 + i, 1_500_000)).collect();
    let mut out = BTreeMap::new();
    let mut seq = 0;
    let mut t = t0;
    let mut most_parts = 0;
    // The attack: 32 junk ids kept fresh, and whole fake blocks of declared 1 GiB objects, ten
    // times more datagrams than the genuine edge sends, interleaved with it.
    for (i, o) in objects.iter().enumerate() {
        let id = i as u64 + 1;
        let genuine = datagrams(&mut sender, id, o);
        let mut attack = Vec::new();
        for j in 0..genuine.len() * 10 / 1024 {
            attack.extend(junk(
                &mut seq,
                50_000 + (j as u64 % 2),
                1 << 30,
                j as u32,
                true,
            ));
        }
        for j in 0..genuine.len() * 10 - attack.len().min(genuine.len() * 10) {
            attack.extend(junk(&mut seq, 60_000 + j as u64 % 32, 1 << 30, 0, false));
        }
        let mut attack = attack.into_iter();
        for d in &genuine {
            for a in attack.by_ref().take(10) {
                rx.handle(&a, t);
            }
            rx.handle(d, t);
            most_parts = most_parts.max(rx.workspace().live);
            assert!(rx.buffered_bytes() <= limits.max_buffer_bytes);
            assert!(rx.unverified_sessions() <= limits.max_unverified_sessions);
        }
        for a in attack {
            rx.handle(&a, t);
        }
        rx.handle(&sender.heartbeat(id, id + 1, 0, 100), t);
        t += Duration::from_millis(50);
        rx.tick(t);
        drain(&mut rx, &mut out);
        // Delivered objects are confirmed safe by their owner, which frees their disk.
        rx.confirm(id);
        assert!(rx.disk_bytes() <= limits.max_disk_bytes);
    }
    check(&objects, &out);
    assert!(
        out.values().all(|o| matches!(o, Outcome::Delivered(..))),
        "{out:?}"
    );
    // No junk session ever had a file: the only parts were the genuine object in transfer.
    assert!(most_parts <= 1, "{most_parts} parts open at once");
    assert_eq!(rx.disk_bytes(), 0);
}

#[test]
fn the_disk_budget_holds_verified_blocks_in_memory_until_the_owner_frees_room() {
    let t0 = Instant::now();
    let limits = ReceiverLimits {
        max_disk_bytes: 3_000_000,
        ..ReceiverLimits::default()
    };
    let mut rx = receiver(limits, t0);
    let mut sender = Sender::new(key(), Coding::default(), 1);
    let objects: Vec<Vec<u8>> = (0..3).map(|i| object(300 + i, 1_400_000)).collect();
    let mut out = BTreeMap::new();
    for (i, o) in objects.iter().enumerate() {
        for d in datagrams(&mut sender, i as u64 + 1, o) {
            rx.handle(&d, t0);
        }
    }
    drain(&mut rx, &mut out);
    // Two fit the budget; the third waits, held in memory, nothing lost.
    assert_eq!(out.len(), 2, "{out:?}");
    assert!(rx.disk_bytes() <= limits.max_disk_bytes);
    assert!(rx.buffered_bytes() > 0);
    rx.confirm(1);
    drain(&mut rx, &mut out);
    assert_eq!(out.len(), 3, "{out:?}");
    check(&objects, &out);
    assert!(rx.disk_bytes() <= limits.max_disk_bytes);
}
