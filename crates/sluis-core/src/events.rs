//! The core's event stream, `events.jsonl`: one JSON object per line, each a time and a
//! [`CoreEvent`] tagged by `event`. Operators tail it, the demo and the benchmarks read it,
//! and the tests hold the core to it; all of them deserialise [`EventLine`] rather than parse
//! text. The stream is the core's own account; the transparency log holds the records.
//!
//! ```text
//! {"time":"2026-12-07T10:00:00.000000Z","event":"stored","edge_id":7,"scan":"…","source":{"kind":"c-store",…},…}
//! ```

use std::io::Write as _;
use std::path::Path;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use sluis_link::ObjectMeta;

/// One line of the stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventLine {
    /// When the core wrote it (RFC 3339, UTC).
    pub time: String,
    /// What happened.
    #[serde(flatten)]
    pub event: CoreEvent,
}

/// What happened at the core.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum CoreEvent {
    /// An object was sanitised and stored in the vault.
    Stored {
        /// The edge's id of the object.
        edge_id: u64,
        /// The scan's id in the vault.
        scan: String,
        /// The log index of its store record.
        log_index: u64,
        /// The vault held it already.
        duplicate: bool,
        /// Elements the sanitiser dropped.
        dropped: usize,
        /// The worker ran in an empty network namespace.
        network_isolated: bool,
        /// The worker's process id.
        worker_pid: u32,
        /// Where it came from.
        source: Source,
        /// Worker, vault and log, milliseconds.
        ms: u64,
        /// The worker alone, milliseconds.
        worker_ms: u64,
        /// Waiting for a pipeline, milliseconds.
        queued_ms: u64,
    },
    /// An object was refused and kept in quarantine with the reason.
    Quarantined {
        /// The edge's id of the object.
        edge_id: u64,
        /// Its id in the quarantine.
        quarantine: String,
        /// The log index of its quarantine record.
        log_index: u64,
        /// The sanitiser's rule.
        rule: String,
        /// The refusal, in words.
        reason: String,
        /// Where it came from.
        source: Source,
    },
    /// An object the edge sent did not arrive whole; replay it.
    Lost {
        /// The edge's id.
        edge_id: u64,
        /// Its length, where known.
        length: Option<u64>,
        /// Why.
        reason: String,
    },
    /// A signed object whose bytes did not match its signature.
    Rejected {
        /// The edge's id.
        edge_id: u64,
        /// A stable code ([`sluis_link::RejectReason::code`]).
        code: String,
        /// In words.
        reason: String,
    },
    /// The edge aborted an object (signed).
    Aborted {
        /// The edge's id.
        edge_id: u64,
        /// The edge's reason code.
        reason: u8,
    },
    /// No heartbeat from the edge within the tolerance.
    HeartbeatMissed {
        /// Silent for, milliseconds.
        silent_ms: u64,
    },
    /// Heartbeats are back.
    HeartbeatResumed,
    /// A new edge run was heard.
    EdgeRestarted {
        /// The newest epoch heard before (0 on a new link).
        previous: u32,
        /// The new epoch.
        epoch: u32,
    },
    /// Signed records were replayed.
    Replayed {
        /// How many since the last report.
        count: u64,
        /// The epoch of the last one.
        epoch: u32,
        /// The newest epoch heard.
        current: u32,
    },
    /// The reassembly area failed: the object could not be kept.
    StorageFailed {
        /// The edge's id.
        edge_id: u64,
        /// The kind of the error (`std::io::ErrorKind`, in words).
        kind: String,
        /// The error.
        error: String,
    },
}

impl CoreEvent {
    /// The edge's id of the object the event is about, if any.
    pub fn edge_id(&self) -> Option<u64> {
        match self {
            CoreEvent::Stored { edge_id, .. }
            | CoreEvent::Quarantined { edge_id, .. }
            | CoreEvent::Lost { edge_id, .. }
            | CoreEvent::Rejected { edge_id, .. }
            | CoreEvent::Aborted { edge_id, .. }
            | CoreEvent::StorageFailed { edge_id, .. } => Some(*edge_id),
            CoreEvent::HeartbeatMissed { .. }
            | CoreEvent::HeartbeatResumed
            | CoreEvent::EdgeRestarted { .. }
            | CoreEvent::Replayed { .. } => None,
        }
    }

    /// Whether it settles its object: stored, quarantined, lost or rejected.
    pub fn settles(&self) -> bool {
        matches!(
            self,
            CoreEvent::Stored { .. }
                | CoreEvent::Quarantined { .. }
                | CoreEvent::Lost { .. }
                | CoreEvent::Rejected { .. }
        )
    }
}

/// Where an object came from, as the edge said (signed by the edge, bounded by
/// [`ObjectMeta::parse`]; the edge copied it from a scanner, so it is a claim, not a fact).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Source {
    /// A C-STORE from a scanner.
    CStore {
        /// The scanner's calling AE title.
        calling_ae: String,
        /// The scanner's address.
        peer: String,
        /// The SOP instance UID of its command set.
        sop_instance: String,
    },
    /// A file from the drop folder.
    DropFolder {
        /// Its name there.
        name: String,
    },
    /// Left verified in the reassembly area by an earlier run of the core (its meta is not
    /// kept there).
    EarlierRun,
    /// The edge's meta could not be read.
    Unreadable {
        /// Why.
        why: String,
    },
}

impl Source {
    /// From the edge's meta, as the link delivered it.
    pub fn from_meta(meta: &str) -> Source {
        match ObjectMeta::parse(meta) {
            Ok(ObjectMeta::Dicom {
                calling_ae,
                peer,
                sop_instance,
                ..
            }) => Source::CStore {
                calling_ae,
                peer,
                sop_instance,
            },
            Ok(ObjectMeta::Drop { name, .. }) => Source::DropFolder { name },
            Ok(other) => Source::Unreadable {
                why: format!("a meta of a kind this core does not know: {other:?}"),
            },
            Err(e) => Source::Unreadable { why: e.to_string() },
        }
    }

    /// In words, for the quarantine's index.
    pub fn describe(&self, edge_id: u64) -> String {
        match self {
            Source::CStore {
                calling_ae,
                peer,
                sop_instance,
            } => format!("edge {edge_id}: C-STORE of {sop_instance} from {calling_ae} ({peer})"),
            Source::DropFolder { name } => format!("edge {edge_id}: drop folder file {name}"),
            Source::EarlierRun => format!("edge {edge_id}: left by an earlier run"),
            Source::Unreadable { why } => format!("edge {edge_id}: {why}"),
        }
    }
}

/// The stream's writer: appends whole lines to an owner-only file.
#[derive(Debug)]
pub struct EventLog(Mutex<std::fs::File>);

impl EventLog {
    /// Opens (or creates) the stream for appending.
    pub fn open(path: &Path) -> std::io::Result<EventLog> {
        Ok(EventLog(Mutex::new(sluis_secret::append_private(path)?)))
    }

    /// Writes one event, stamped now.
    pub fn emit(&self, event: CoreEvent) {
        let line = EventLine {
            time: sluis_vault::vault::now(),
            event,
        };
        let mut text = match serde_json::to_string(&line) {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(error = %e, "event not encoded");
                return;
            }
        };
        text.push('\n');
        let mut f = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = f.write_all(text.as_bytes()).and_then(|()| f.flush()) {
            tracing::error!(error = %e, "event stream");
        }
    }
}

/// Reads a stream (the whole file; a line that does not parse, such as one being written, is
/// skipped).
pub fn read(path: &Path) -> std::io::Result<Vec<EventLine>> {
    let text = std::fs::read_to_string(path)?;
    Ok(text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn an_event_line_reads_back_and_keeps_its_wire_names() {
        let line = EventLine {
            time: "2026-12-07T10:00:00.000000Z".into(),
            event: CoreEvent::Quarantined {
                edge_id: 3,
                quarantine: "q1".into(),
                log_index: 9,
                rule: "pixel-geometry".into(),
                reason: "r".into(),
                source: Source::DropFolder {
                    name: "cut.dcs".into(),
                },
            },
        };
        let text = serde_json::to_string(&line).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["event"], "quarantined");
        assert_eq!(v["edge_id"], 3);
        assert_eq!(v["source"]["kind"], "drop-folder");
        assert_eq!(serde_json::from_str::<EventLine>(&text).unwrap(), line);
        let beat: EventLine =
            serde_json::from_str(r#"{"time":"t","event":"heartbeat-resumed"}"#).unwrap();
        assert_eq!(beat.event, CoreEvent::HeartbeatResumed);
        assert_eq!(beat.event.edge_id(), None);
    }

    #[test]
    fn sources_come_from_the_edge_meta() {
        let m = ObjectMeta::Drop {
            name: "a.dcs".into(),
            received: "t".into(),
        };
        let s = Source::from_meta(&m.to_json());
        assert_eq!(s.describe(4), "edge 4: drop folder file a.dcs");
        assert!(matches!(
            Source::from_meta("{not json"),
            Source::Unreadable { .. }
        ));
    }
}
