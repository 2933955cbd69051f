//! Replays of signed records captured from earlier edge runs: a cut link stays a cut link,
//! every replay is counted and reported, and nothing an old run signed is taken for new.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use sluis_link::receiver::Event;
use sluis_link::{Coding, Ledger, MemWorkspace, Receiver, ReceiverLimits, ReceiverMetrics, Sender};

use crate::channel::{Outcome, datagrams, drain, key, object};

fn events(rx: &mut crate::channel::Rx) -> Vec<Event<Vec<u8>>> {
    std::iter::from_fn(|| rx.poll_event()).collect()
}

fn receiver_with(ledger: Ledger, metrics: &ReceiverMetrics, t0: Instant) -> crate::channel::Rx {
    Receiver::new(
        ReceiverLimits::default(),
        key().verifier(),
        MemWorkspace::default(),
        ledger,
        metrics.clone(),
        t0,
    )
}

fn link_up(m: &ReceiverMetrics) -> i64 {
    m.link_up.get()
}

#[test]
fn replayed_heartbeats_from_two_earlier_runs_never_hide_a_cut_link() {
    let t0 = Instant::now();
    let metrics = ReceiverMetrics::default();
    let mut rx = receiver_with(Ledger::new(), &metrics, t0);
    // Two edge runs, each heard live; an attacker captures one heartbeat of each.
    let mut run1 = Sender::new(key(), Coding::default(), 100);
    let h1 = run1.heartbeat(1_000, 1, 0, 1000);
    rx.handle(&h1, t0);
    let mut run2 = Sender::new(key(), Coding::default(), 200);
    let h2 = run2.heartbeat(2_000, 1, 0, 1000);
    rx.handle(&h2, t0 + Duration::from_millis(500));
    let ev = events(&mut rx);
    assert!(matches!(
        ev.as_slice(),
        [
            Event::EdgeRestarted {
                previous: 0,
                epoch: 100
            },
            Event::EdgeRestarted {
                previous: 100,
                epoch: 200
            }
        ]
    ));
    assert_eq!(link_up(&metrics), 1);
    // The edge is gone; the attacker sends the two captured heartbeats alternately, ten a
    // second, for a minute and a half.
    let mut seen = Vec::new();
    for i in 0..900u64 {
        let t = t0 + Duration::from_millis(600 + i * 100);
        rx.handle(if i % 2 == 0 { &h1 } else { &h2 }, t);
        rx.tick(t);
        seen.extend(events(&mut rx));
    }
    assert_eq!(link_up(&metrics), 0, "a replay kept the link up");
    let missed = seen
        .iter()
        .filter(|e| matches!(e, Event::HeartbeatMissed { .. }))
        .count();
    assert_eq!(missed, 1, "{seen:?}");
    assert!(
        !seen
            .iter()
            .any(|e| matches!(e, Event::HeartbeatResumed | Event::EdgeRestarted { .. })),
        "{seen:?}"
    );
    // Every replay is counted; reports are aggregated (at once, then once a minute).
    assert_eq!(metrics.replayed.get(), 900);
    let reported: Vec<u64> = seen
        .iter()
        .filter_map(|e| match e {
            Event::Replayed { count, current, .. } => {
                assert_eq!(*current, 200);
                Some(*count)
            }
            _ => None,
        })
        .collect();
    assert_eq!(reported.len(), 2, "{reported:?}");
    assert_eq!(reported[0], 1);
    // A restarted core knows the newest run and its last heartbeat from the ledger.
    let ledger = rx.ledger().clone();
    assert_eq!((ledger.epoch, ledger.heartbeat_ms), (200, 2_000));
    let metrics = ReceiverMetrics::default();
    let t1 = t0 + Duration::from_secs(100);
    let mut rx = receiver_with(ledger, &metrics, t1);
    for (i, h) in [&h1, &h2, &h1, &h2].into_iter().enumerate() {
        rx.handle(h, t1 + Duration::from_millis(i as u64 * 100));
    }
    rx.tick(t1 + Duration::from_secs(10));
    let ev = events(&mut rx);
    assert_eq!(link_up(&metrics), 0);
    assert_eq!(metrics.replayed.get(), 4);
    assert!(
        !ev.iter()
            .any(|e| matches!(e, Event::HeartbeatResumed | Event::EdgeRestarted { .. })),
        "{ev:?}"
    );
    // The edge really comes back: a new run, newer epoch.
    let mut run3 = Sender::new(key(), Coding::default(), 300);
    rx.handle(
        &run3.heartbeat(3_000, 1, 0, 1000),
        t1 + Duration::from_secs(11),
    );
    let ev = events(&mut rx);
    assert!(
        ev.iter().any(|e| matches!(
            e,
            Event::EdgeRestarted {
                previous: 200,
                epoch: 300
            }
        )),
        "{ev:?}"
    );
    assert!(ev.iter().any(|e| matches!(e, Event::HeartbeatResumed)));
    assert_eq!(link_up(&metrics), 1);
}

#[test]
fn an_object_signed_by_an_earlier_run_is_a_replay_and_never_delivered_as_new() {
    let t0 = Instant::now();
    let metrics = ReceiverMetrics::default();
    let mut rx = receiver_with(Ledger::new(), &metrics, t0);
    let data = object(5, 300_000);
    let mut old = Sender::new(key(), Coding::default(), 10);
    rx.handle(&old.heartbeat(1, 1, 0, 1000), t0);
    // Object 1 of the old run is captured, never delivered (the link was cut).
    let captured = datagrams(&mut old, 1, &data);
    let mut new = Sender::new(key(), Coding::default(), 11);
    rx.handle(&new.heartbeat(2, 2, 0, 1000), t0);
    for d in &captured {
        rx.handle(d, t0);
    }
    let mut out = BTreeMap::new();
    drain(&mut rx, &mut out);
    assert!(!out.contains_key(&1), "{out:?}");
    assert!(
        metrics.replayed.get() >= 2,
        "the Start and End copies count"
    );
    // The new run's own send of the same object is delivered.
    for d in datagrams(&mut new, 1, &data) {
        rx.handle(&d, t0 + Duration::from_millis(10));
    }
    drain(&mut rx, &mut out);
    assert_eq!(out.get(&1), Some(&Outcome::Delivered(data, false)));
}
