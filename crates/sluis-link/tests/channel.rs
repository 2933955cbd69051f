//! Objects through a simulated channel: loss (random and bursty), reordering, duplication,
//! corruption. Every object is delivered bit-exact or reported lost by id; nothing else.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rand::{Rng as _, RngExt as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;
use sluis_link::receiver::Event;
use sluis_link::{
    Coding, EdgeKey, Ledger, MemWorkspace, Receiver, ReceiverLimits, ReceiverMetrics, Sender,
};

pub(crate) fn key() -> EdgeKey {
    EdgeKey::from_seed([7; 32])
}

pub(crate) fn object(seed: u64, len: usize) -> Vec<u8> {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    let mut v = vec![0u8; len];
    r.fill_bytes(&mut v);
    v
}

/// All datagrams of one object, in send order (end copies included).
pub(crate) fn datagrams(sender: &mut Sender, id: u64, data: &[u8]) -> Vec<Vec<u8>> {
    let mut out = vec![sender.start(id, data.len() as u64, b"{\"source\":\"test\"}")];
    let shape = sender.coding().shape(data.len() as u64);
    for b in 0..shape.blocks() {
        let (a, e) = shape.block_range(b).unwrap();
        sender.block(
            id,
            data.len() as u64,
            b as u32,
            &data[a as usize..e as usize],
            &mut |d| out.push(d.to_vec()),
        );
    }
    let digest = sluis_link::wire::object_digest(data);
    for _ in 0..sender.coding().end_copies {
        out.push(sender.end(id, data.len() as u64, &digest, b"{\"source\":\"test\"}"));
    }
    out
}

/// A channel's faults.
#[derive(Clone, Copy, Default)]
pub(crate) struct Faults {
    pub loss: f64,
    /// Probability that a loss starts a burst of this many datagrams.
    pub burst: usize,
    pub reorder: f64,
    pub duplicate: f64,
    pub corrupt: f64,
}

pub(crate) fn apply(faults: Faults, seed: u64, input: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    let mut out: Vec<Vec<u8>> = Vec::with_capacity(input.len());
    let mut burst_left = 0usize;
    for mut d in input {
        if burst_left > 0 {
            burst_left -= 1;
            continue;
        }
        if r.random_bool(faults.loss) {
            burst_left = faults.burst.saturating_sub(1);
            continue;
        }
        if r.random_bool(faults.corrupt) {
            let i = r.random_range(0..d.len());
            d[i] ^= 1 << r.random_range(0..8);
        }
        if r.random_bool(faults.duplicate) {
            out.push(d.clone());
        }
        if r.random_bool(faults.reorder) && !out.is_empty() {
            let j = r.random_range(out.len().saturating_sub(32)..out.len());
            out.insert(j, d);
        } else {
            out.push(d);
        }
    }
    out
}

pub(crate) type Rx = Receiver<MemWorkspace>;

pub(crate) fn receiver(limits: ReceiverLimits, t0: Instant) -> Rx {
    Receiver::new(
        limits,
        key().verifier(),
        MemWorkspace::default(),
        Ledger::new(),
        ReceiverMetrics::default(),
        t0,
    )
}

/// What the receiver said about each object.
#[derive(PartialEq)]
pub(crate) enum Outcome {
    Delivered(Vec<u8>, bool),
    Lost(String),
    Rejected(String),
}

impl std::fmt::Debug for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Delivered(b, r) => write!(f, "Delivered({} bytes, recovered {r})", b.len()),
            Outcome::Lost(r) => write!(f, "Lost({r})"),
            Outcome::Rejected(r) => write!(f, "Rejected({r})"),
        }
    }
}

pub(crate) fn drain(rx: &mut Rx, into: &mut BTreeMap<u64, Outcome>) {
    while let Some(ev) = rx.poll_event() {
        match ev {
            Event::Delivered(o) => {
                let prev = into.insert(
                    o.id(),
                    Outcome::Delivered(o.location().clone(), o.recovered()),
                );
                assert!(
                    !matches!(prev, Some(Outcome::Delivered(..))),
                    "object {} delivered twice",
                    o.id()
                );
            }
            Event::Lost(l) => {
                into.insert(l.id, Outcome::Lost(l.reason));
            }
            Event::Rejected { id, reason } => {
                into.insert(id, Outcome::Rejected(reason.to_string()));
            }
            _ => {}
        }
    }
}

/// Sends `objects` through a channel with `faults`, then a heartbeat, lets time pass, and
/// returns what the receiver said about each id.
pub(crate) fn run(
    coding: Coding,
    faults: Faults,
    seed: u64,
    objects: &[Vec<u8>],
) -> (BTreeMap<u64, Outcome>, Rx) {
    let t0 = Instant::now();
    let mut rx = receiver(ReceiverLimits::default(), t0);
    let mut sender = Sender::new(key(), coding, 1);
    let mut all = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        all.extend(datagrams(&mut sender, i as u64 + 1, o));
    }
    all.push(sender.heartbeat(1, objects.len() as u64 + 1, 0, 1000));
    let mut outcomes = BTreeMap::new();
    for d in apply(faults, seed, all) {
        rx.handle(&d, t0);
        drain(&mut rx, &mut outcomes);
    }
    // The heartbeat may itself be lost: a later one always follows.
    let hb = sender.heartbeat(2, objects.len() as u64 + 1, 0, 1000);
    rx.handle(&hb, t0);
    for s in [1, 20, 40] {
        rx.tick(t0 + Duration::from_secs(s));
        drain(&mut rx, &mut outcomes);
    }
    (outcomes, rx)
}

/// Every object is delivered bit-exact or reported lost or rejected; returns (delivered, lost).
pub(crate) fn check(objects: &[Vec<u8>], outcomes: &BTreeMap<u64, Outcome>) -> (usize, usize) {
    let mut delivered = 0;
    let mut lost = 0;
    for (i, o) in objects.iter().enumerate() {
        match outcomes.get(&(i as u64 + 1)) {
            Some(Outcome::Delivered(bytes, _)) => {
                assert!(bytes == o, "object {} delivered altered", i + 1);
                delivered += 1;
            }
            Some(Outcome::Lost(_) | Outcome::Rejected(_)) => lost += 1,
            None => panic!("object {} neither delivered nor reported lost", i + 1),
        }
    }
    assert_eq!(
        outcomes.len(),
        objects.len(),
        "events for ids never sent: {:?}",
        outcomes.keys()
    );
    (delivered, lost)
}

fn corpus(n: usize) -> Vec<Vec<u8>> {
    let sizes = [0, 1, 1427, 1428, 1429, 1_462_272, 3_000_001, 700_000];
    (0..n)
        .map(|i| object(i as u64, sizes[i % sizes.len()]))
        .collect()
}

#[test]
fn lossless_channel_delivers_every_size_bit_exact() {
    let objects = corpus(8);
    let (outcomes, rx) = run(Coding::default(), Faults::default(), 1, &objects);
    assert_eq!(check(&objects, &outcomes), (8, 0));
    assert_eq!(rx.buffered_bytes(), 0);
    assert_eq!(rx.sessions(), 0);
    assert_eq!(rx.ledger().floor, 9);
}

#[test]
fn one_percent_random_loss_with_default_coding_delivers_everything() {
    let objects = corpus(16);
    for seed in 0..5 {
        let faults = Faults {
            loss: 0.01,
            ..Faults::default()
        };
        let (outcomes, _) = run(Coding::default(), faults, seed, &objects);
        assert_eq!(check(&objects, &outcomes), (16, 0), "seed {seed}");
    }
}

#[test]
fn five_percent_loss_with_reordering_and_duplicates_delivers_with_more_repair() {
    let objects = corpus(8);
    let coding = Coding {
        repair_percent: 12.0,
        repair_extra: 4,
        ..Coding::default()
    };
    let faults = Faults {
        loss: 0.05,
        reorder: 0.05,
        duplicate: 0.02,
        ..Faults::default()
    };
    let (outcomes, _) = run(coding, faults, 5, &objects);
    assert_eq!(check(&objects, &outcomes), (8, 0));
}

#[test]
fn loss_beyond_the_fec_budget_reports_each_missing_object_by_id() {
    let objects = corpus(8);
    let faults = Faults {
        loss: 0.2,
        burst: 3,
        ..Faults::default()
    };
    let (outcomes, rx) = run(Coding::default(), faults, 9, &objects);
    let (delivered, lost) = check(&objects, &outcomes);
    assert!(
        lost >= 4,
        "20 % bursty loss with 3 % repair must lose the large objects: {lost}"
    );
    assert_eq!(delivered + lost, 8);
    // Nothing held once every object is resolved.
    assert_eq!(rx.sessions(), 0);
    assert_eq!(rx.ledger().lost.len(), lost);
}

#[test]
fn corrupted_datagrams_are_dropped_by_crc_and_repaired() {
    let objects = corpus(8);
    let faults = Faults {
        corrupt: 0.005,
        ..Faults::default()
    };
    let (outcomes, rx) = run(Coding::default(), faults, 3, &objects);
    assert_eq!(check(&objects, &outcomes), (8, 0));
    let _ = rx;
}

#[test]
fn a_lost_object_replayed_later_is_delivered_and_marked_recovered() {
    let objects = corpus(4);
    let t0 = Instant::now();
    let mut rx = receiver(ReceiverLimits::default(), t0);
    let mut sender = Sender::new(key(), Coding::default(), 1);
    let mut outcomes = BTreeMap::new();
    for (i, o) in objects.iter().enumerate() {
        let ds = datagrams(&mut sender, i as u64 + 1, o);
        if i == 2 {
            continue; // the link was cut while object 3 went over
        }
        for d in ds {
            rx.handle(&d, t0);
        }
    }
    rx.handle(&sender.heartbeat(1, 5, 0, 1000), t0);
    rx.tick(t0 + Duration::from_secs(30));
    drain(&mut rx, &mut outcomes);
    assert!(
        matches!(outcomes.get(&3), Some(Outcome::Lost(r)) if r.contains("never arrived")),
        "{outcomes:?}"
    );
    assert_eq!(rx.ledger().floor, 5);
    // The operator replays 3 (a new edge run: new epoch); a replay of 1 is dropped as duplicate.
    let mut replay = Sender::new(key(), Coding::default(), 2);
    for d in datagrams(&mut replay, 3, &objects[2])
        .into_iter()
        .chain(datagrams(&mut replay, 1, &objects[0]))
    {
        rx.handle(&d, t0 + Duration::from_secs(31));
    }
    let mut after = BTreeMap::new();
    drain(&mut rx, &mut after);
    assert_eq!(after.len(), 1);
    assert_eq!(
        after.get(&3),
        Some(&Outcome::Delivered(objects[2].clone(), true))
    );
    assert!(rx.ledger().lost.is_empty());
}

#[test]
fn a_silent_edge_raises_heartbeat_missed_and_then_resumed() {
    let t0 = Instant::now();
    let mut rx = receiver(ReceiverLimits::default(), t0);
    let mut sender = Sender::new(key(), Coding::default(), 1);
    rx.handle(&sender.heartbeat(1000, 1, 0, 1000), t0);
    // The first run heard on a new link is on the record.
    assert!(matches!(
        rx.poll_event(),
        Some(Event::EdgeRestarted {
            previous: 0,
            epoch: 1
        })
    ));
    rx.tick(t0 + Duration::from_secs(2));
    assert!(rx.poll_event().is_none());
    rx.tick(t0 + Duration::from_secs(6));
    assert!(matches!(
        rx.poll_event(),
        Some(Event::HeartbeatMissed { .. })
    ));
    // An old heartbeat replayed by someone in the enclave does not count, and is reported.
    rx.handle(
        &sender.heartbeat(1000, 1, 0, 1000),
        t0 + Duration::from_secs(7),
    );
    assert!(matches!(
        rx.poll_event(),
        Some(Event::Replayed { count: 1, .. })
    ));
    assert!(rx.poll_event().is_none());
    rx.handle(
        &sender.heartbeat(9000, 1, 0, 1000),
        t0 + Duration::from_secs(8),
    );
    assert!(matches!(rx.poll_event(), Some(Event::HeartbeatResumed)));
    // A restarted edge (new epoch) is reported.
    let mut again = Sender::new(key(), Coding::default(), 2);
    rx.handle(
        &again.heartbeat(10_000, 1, 0, 1000),
        t0 + Duration::from_secs(9),
    );
    assert!(matches!(
        rx.poll_event(),
        Some(Event::EdgeRestarted {
            previous: 1,
            epoch: 2
        })
    ));
}

#[test]
fn small_objects_survive_five_percent_loss() {
    let objects: Vec<Vec<u8>> = (0..200)
        .map(|i| object(i, 500 + (i as usize * 97) % 6000))
        .collect();
    let coding = Coding {
        repair_percent: 15.0,
        repair_extra: 4,
        ..Coding::default()
    };
    let faults = Faults {
        loss: 0.05,
        ..Faults::default()
    };
    let (outcomes, _) = run(coding, faults, 77, &objects);
    let bad: Vec<_> = outcomes
        .iter()
        .filter(|(_, o)| !matches!(o, Outcome::Delivered(..)))
        .collect();
    assert!(bad.is_empty(), "{bad:?}");
}
