//! The send loop: the spool's objects, in order, over the one-way link, with heartbeats
//! between them; and the replay of a range an operator names after the core reported it lost.
//! The twin of `sluis_link::net::run_receiver` on the core's side.

use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use sluis_link::net::{LinkOut, udp_socket};
use sluis_link::{EdgeKey, Sender, SenderMetrics, Spool};

use crate::config::EdgeConfig;
use crate::error::EdgeError;

/// The link's sending end for a new edge run, numbered by the spool's next epoch (higher than
/// every earlier run's, a replay included).
pub fn link_out(
    cfg: &EdgeConfig,
    spool: &Spool,
    metrics: &SenderMetrics,
) -> Result<LinkOut, EdgeError> {
    let key = EdgeKey::read(&cfg.edge.key)?;
    let epoch = spool.next_epoch()?;
    let sock = udp_socket(cfg.link.bind, 0, cfg.link.send_buffer)
        .and_then(|s: UdpSocket| s.connect(cfg.link.to).map(|()| s))
        .map_err(|source| EdgeError::Socket {
            what: "link socket to",
            addr: cfg.link.to,
            source,
        })?;
    let sender = Sender::new(key, cfg.coding, epoch);
    Ok(LinkOut::new(
        sock,
        sender,
        cfg.link.rate_mbit * 1_000_000 / 8,
        metrics.clone(),
    ))
}

/// Sends the spool until `stop`, with a heartbeat every `heartbeat_ms` (also while an object
/// is being sent), pruning sent objects past their retention; says goodbye with the final
/// high-water mark.
pub fn send_loop(
    cfg: &EdgeConfig,
    out: &mut LinkOut,
    spool: &Spool,
    metrics: &SenderMetrics,
    stop: &AtomicBool,
) {
    let interval = Duration::from_millis(cfg.link.heartbeat_ms.max(50));
    let mut last_beat = Instant::now() - interval;
    let keep = Duration::from_secs(cfg.edge.keep_sent_s);
    let beat = |out: &mut LinkOut, last: &mut Instant| {
        if last.elapsed() >= interval {
            if let Some(before) = SystemTime::now().checked_sub(keep) {
                let pruned = spool.prune_sent_before(before);
                if pruned > 0 {
                    tracing::info!(pruned, "sent objects past their retention deleted");
                }
            }
            let (n, bytes, unsent) = spool.depth();
            metrics
                .spool_depth
                .set(i64::try_from(n).unwrap_or(i64::MAX));
            metrics
                .spool_bytes
                .set(i64::try_from(bytes).unwrap_or(i64::MAX));
            metrics
                .backlog
                .set(i64::try_from(unsent).unwrap_or(i64::MAX));
            out.heartbeat(spool.sent_below(), n, interval);
            *last = Instant::now();
        }
    };
    while !stop.load(Ordering::Relaxed) {
        beat(out, &mut last_beat);
        let Some(entry) = spool.next_unsent() else {
            spool.wait_unsent(interval.min(Duration::from_millis(200)));
            continue;
        };
        let hot = spool.take_hot(entry.id);
        let result = out.send_object(&entry, hot.as_deref(), &mut |o| beat(o, &mut last_beat));
        match hot {
            Some(buffer) => spool.recycle(buffer),
            None => spool.release_pages(entry.id),
        }
        match result {
            Ok(()) => {
                metrics.objects_sent.inc();
            }
            Err(e) => {
                tracing::error!(id = entry.id, error = %e, "object could not be sent; aborted")
            }
        }
        if let Err(e) = spool.mark_sent(entry.id) {
            tracing::error!(error = %e, "spool");
        }
    }
    out.heartbeat(spool.sent_below(), spool.depth().0, interval);
}

/// What a replay did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replayed {
    /// Objects sent again.
    pub sent: u64,
    /// Ids of the range no longer (or never) in the spool.
    pub missing: Vec<u64>,
}

/// Sends spooled objects `from..=to` again (those already sent once; the send loop sends the
/// others), as a new edge run.
pub fn replay(cfg: &EdgeConfig, from: u64, to: u64) -> Result<Replayed, EdgeError> {
    if to < from {
        return Err(EdgeError::Range { from, to });
    }
    let spool = Spool::open(&cfg.edge.spool, cfg.edge.spool_budget)?;
    let metrics = SenderMetrics::default();
    let mut out = link_out(cfg, &spool, &metrics)?;
    let entries = spool.range(from, to);
    let sent_below = spool.sent_below();
    let mut missing = Vec::new();
    let mut have = entries.iter().map(|e| e.id).peekable();
    for id in from..=to {
        if have.peek() == Some(&id) {
            have.next();
        } else {
            missing.push(id);
        }
    }
    let mut sent = 0;
    for e in entries.iter().filter(|e| e.id < sent_below) {
        out.send_object(e, None, &mut |_| {})
            .map_err(|source| EdgeError::Send { id: e.id, source })?;
        sent += 1;
    }
    out.flush();
    Ok(Replayed { sent, missing })
}
