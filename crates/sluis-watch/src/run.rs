//! Driving the engine from an input to the end: the loops the CLI and the tests share.

use std::net::UdpSocket;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::alert::Alert;
use crate::capture::{self, CaptureError, Micros, Record};
use crate::detect::{Stats, Watch};
use crate::ipfix::Collector;

/// What a loop hands out as it drives the engine: every alert as it is raised, and the engine's
/// counters about once a second (of input time for a file, of wall time for a live input) and
/// at the end. A closure over alerts is an observer that ignores the counters.
pub trait Observer {
    /// One alert, in the order raised.
    fn alert(&mut self, alert: &Alert);
    /// The counters and the number of flows in the table now.
    fn stats(&mut self, _stats: &Stats, _live_flows: usize) {}
}

impl<F: FnMut(&Alert)> Observer for F {
    fn alert(&mut self, alert: &Alert) {
        self(alert);
    }
}

const SECOND: Micros = 1_000_000;

/// Hands out what the engine has raised and, when a second has passed since `last` on the
/// clock `now`, its counters.
fn report(watch: &mut Watch, observer: &mut impl Observer, now: Micros, last: &mut Micros) {
    for a in watch.alerts() {
        observer.alert(&a);
    }
    if now.saturating_sub(*last) >= SECOND {
        *last = now;
        observer.stats(&watch.stats, watch.live_flows());
    }
}

/// The end of an input: the last beacon pass, its alerts, the final counters.
fn finish(watch: &mut Watch, observer: &mut impl Observer) {
    watch.finish();
    for a in watch.alerts() {
        observer.alert(&a);
    }
    observer.stats(&watch.stats, watch.live_flows());
}

fn now_micros() -> Micros {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// Feeds one capture record to the engine.
pub fn feed(watch: &mut Watch, record: Record<'_>) {
    match record {
        Record::Frame {
            ts,
            link,
            data,
            orig_len,
        } => watch.frame(ts, link, data, orig_len),
        Record::Drops { ts, total } => watch.drops(ts, total),
    }
}

/// Reads a pcap or pcapng file through the engine, handing every alert to `observer` as it is
/// raised, then scores beacons over the whole capture. Returns the number of frames.
pub fn capture_file(
    path: &Path,
    watch: &mut Watch,
    observer: &mut impl Observer,
) -> Result<u64, CaptureError> {
    let mut last = Micros::MIN / 2;
    let frames = capture::read_file(path, |record| {
        feed(watch, record);
        let now = watch.input_time().unwrap_or(0);
        report(watch, observer, now, &mut last);
    })?;
    finish(watch, observer);
    Ok(frames)
}

/// Watches a live interface until `stop` is set.
pub fn live(
    interface: &str,
    watch: &mut Watch,
    stop: &AtomicBool,
    observer: &mut impl Observer,
) -> std::io::Result<()> {
    if interface.is_empty() || interface.contains('/') || interface.len() > 15 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{interface:?} is not an interface name"),
        ));
    }
    let mut cap = capture::live::LiveCapture::open(interface)?;
    let drops_at_start = interface_drops(interface);
    let mut last_beacon = now_micros();
    let mut last_second = 0;
    let mut last_stats = Micros::MIN / 2;
    while !stop.load(Ordering::Relaxed) {
        let mut sink = |record: Record<'_>| feed(watch, record);
        // A burst is read whole before the clock work below.
        for _ in 0..256 {
            if !cap.next(&mut sink)? {
                break;
            }
        }
        let now = now_micros();
        watch.tick(now);
        if now.saturating_sub(last_second) >= 1_000_000 {
            last_second = now;
            // Frames the interface itself dropped (the driver, its ring, the kernel's backlog)
            // were never seen: the sensor was blind for them.
            if let (Some(start), Some(total)) = (drops_at_start, interface_drops(interface)) {
                watch.drops(now, total.saturating_sub(start));
            }
        }
        if now.saturating_sub(last_beacon) > 600_000_000 {
            watch.finish();
            last_beacon = now;
        }
        report(watch, observer, now, &mut last_stats);
    }
    finish(watch, observer);
    Ok(())
}

/// The receive drop counters of an interface, from sysfs.
fn interface_drops(interface: &str) -> Option<u64> {
    let dir = Path::new("/sys/class/net")
        .join(interface)
        .join("statistics");
    let mut total = 0u64;
    for counter in ["rx_dropped", "rx_missed_errors", "rx_fifo_errors"] {
        let text = std::fs::read_to_string(dir.join(counter)).ok()?;
        total = total.saturating_add(text.trim().parse::<u64>().ok()?);
    }
    Some(total)
}

/// Collects NetFlow v9 / IPFIX on `socket` until `stop` is set (or, with `idle_exit`, until
/// nothing has arrived for that long after the first datagram).
pub fn collect(
    socket: &UdpSocket,
    watch: &mut Watch,
    stop: &AtomicBool,
    idle_exit: Option<Duration>,
    observer: &mut impl Observer,
) -> std::io::Result<Collector> {
    let mut collector = Collector::new();
    socket.set_read_timeout(Some(Duration::from_millis(200)))?;
    let mut buf = vec![0u8; 65_536];
    let mut last = None::<std::time::Instant>;
    let started = std::time::Instant::now();
    let mut last_stats = Micros::MIN / 2;
    while !stop.load(Ordering::Relaxed) {
        match socket.recv_from(&mut buf) {
            Ok((n, from)) => {
                last = Some(std::time::Instant::now());
                let data = buf.get(..n).unwrap_or_default();
                let mut records = Vec::new();
                collector.datagram(from, data, &mut |r| records.push(r));
                watch.flow_batch(&records);
                for a in watch.alerts() {
                    observer.alert(&a);
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(e),
        }
        // Silence by the wall clock: nothing from any exporter for too long.
        let quiet = last.unwrap_or(started).elapsed();
        let now = now_micros();
        watch.input_silent(
            now,
            now.saturating_sub(i64::try_from(quiet.as_micros()).unwrap_or(0)),
        );
        report(watch, observer, now, &mut last_stats);
        if let (Some(idle), Some(t)) = (idle_exit, last)
            && t.elapsed() >= idle
        {
            break;
        }
    }
    watch.flush_flow_batch();
    finish(watch, observer);
    Ok(collector)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_drop_counters_are_read_and_names_checked() {
        assert!(interface_drops("lo").is_some());
        assert!(interface_drops("no-such-if0").is_none());
        let mut watch = Watch::new(crate::Policy::default());
        let stop = AtomicBool::new(true);
        let err = live("../etc", &mut watch, &stop, &mut |_: &Alert| {}).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    }
}
