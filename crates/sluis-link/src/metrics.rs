//! Prometheus metrics of both ends of the link (`prometheus-client`, OpenMetrics text). The
//! counters are shared handles: the sans-I/O halves increment them, the binary serves them.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// The core's link metrics.
#[derive(Debug, Clone, Default)]
pub struct ReceiverMetrics {
    /// Datagrams received.
    pub datagrams: Counter,
    /// Bytes of datagrams received.
    pub bytes: Counter,
    /// Datagrams that did not decode.
    pub malformed: Counter,
    /// Signed records whose signature did not verify.
    pub forged: Counter,
    /// Signed records replayed: a heartbeat older than one already seen, or any signed record
    /// from an edge run older than the newest one heard.
    pub replayed: Counter,
    /// Verified heartbeats.
    pub heartbeats: Counter,
    /// Heartbeat tolerance exceeded.
    pub heartbeats_missed: Counter,
    /// Symbols accepted.
    pub symbols: Counter,
    /// Symbols for blocks already decoded (unneeded repair).
    pub late_symbols: Counter,
    /// Symbols seen twice.
    pub duplicate_symbols: Counter,
    /// Symbols refused (id out of range, too many blocks in flight).
    pub refused_symbols: Counter,
    /// Symbols dropped because the buffer budget was full.
    pub over_budget: Counter,
    /// Datagrams for an object whose shape differs from the one first seen.
    pub shape_mismatch: Counter,
    /// Blocks decoded.
    pub blocks: Counter,
    /// Repair symbols that stood in for lost source symbols.
    pub repairs_used: Counter,
    /// Objects delivered, verified.
    pub objects_delivered: Counter,
    /// Bytes of objects delivered.
    pub object_bytes: Counter,
    /// Objects reported lost.
    pub objects_lost: Counter,
    /// Objects rejected (digest mismatch, forged shape).
    pub objects_rejected: Counter,
    /// Datagrams for objects already delivered.
    pub duplicates: Counter,
    /// New sessions refused (outside the id window, too many sessions).
    pub refused: Counter,
    /// Sessions given up that no signed record vouched for.
    pub junk_sessions: Counter,
    /// Workspace write failures.
    pub storage_errors: Counter,
    /// Sessions open.
    pub sessions: Gauge,
    /// Bytes of symbols held.
    pub buffered_bytes: Gauge,
    /// 1 while heartbeats arrive within the tolerance.
    pub link_up: Gauge,
    /// The edge's spool depth, from its last heartbeat.
    pub edge_spool_depth: Gauge,
    /// Sessions open that no signed record has vouched for yet.
    pub unverified_sessions: Gauge,
    /// Bytes of the reassembly directory taken (objects being written and verified objects
    /// waiting for the vault).
    pub disk_bytes: Gauge,
    /// Blocks held in memory because the reassembly directory's budget was full.
    pub disk_full: Counter,
    /// The newest edge run heard.
    pub edge_epoch: Gauge,
}

impl ReceiverMetrics {
    /// Registers every metric under `sluis_link_rx_`.
    pub fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("sluis_link_rx");
        r.register("datagrams", "Datagrams received", self.datagrams.clone());
        r.register("bytes", "Bytes of datagrams received", self.bytes.clone());
        r.register(
            "malformed",
            "Datagrams that did not decode",
            self.malformed.clone(),
        );
        r.register(
            "forged",
            "Signed records whose signature did not verify",
            self.forged.clone(),
        );
        r.register(
            "replayed",
            "Signed records replayed (older heartbeat, or from an older edge run)",
            self.replayed.clone(),
        );
        r.register("heartbeats", "Verified heartbeats", self.heartbeats.clone());
        r.register(
            "heartbeats_missed",
            "Times the heartbeat tolerance was exceeded",
            self.heartbeats_missed.clone(),
        );
        r.register("symbols", "Symbols accepted", self.symbols.clone());
        r.register(
            "late_symbols",
            "Symbols for blocks already decoded",
            self.late_symbols.clone(),
        );
        r.register(
            "duplicate_symbols",
            "Symbols seen twice",
            self.duplicate_symbols.clone(),
        );
        r.register(
            "refused_symbols",
            "Symbols refused",
            self.refused_symbols.clone(),
        );
        r.register(
            "over_budget",
            "Symbols dropped: buffer budget full",
            self.over_budget.clone(),
        );
        r.register(
            "shape_mismatch",
            "Datagrams with a conflicting object shape",
            self.shape_mismatch.clone(),
        );
        r.register("blocks_decoded", "Blocks decoded", self.blocks.clone());
        r.register(
            "repairs_used",
            "Repair symbols that replaced lost source symbols",
            self.repairs_used.clone(),
        );
        r.register(
            "objects_delivered",
            "Objects delivered, verified",
            self.objects_delivered.clone(),
        );
        r.register(
            "object_bytes",
            "Bytes of objects delivered",
            self.object_bytes.clone(),
        );
        r.register(
            "objects_lost",
            "Objects reported lost",
            self.objects_lost.clone(),
        );
        r.register(
            "objects_rejected",
            "Objects rejected",
            self.objects_rejected.clone(),
        );
        r.register(
            "duplicates",
            "Datagrams for objects already delivered",
            self.duplicates.clone(),
        );
        r.register(
            "sessions_refused",
            "New sessions refused",
            self.refused.clone(),
        );
        r.register(
            "junk_sessions",
            "Sessions given up that no signed record vouched for",
            self.junk_sessions.clone(),
        );
        r.register(
            "storage_errors",
            "Workspace write failures",
            self.storage_errors.clone(),
        );
        r.register("sessions", "Sessions open", self.sessions.clone());
        r.register(
            "buffered_bytes",
            "Bytes of symbols held",
            self.buffered_bytes.clone(),
        );
        r.register(
            "link_up",
            "1 while heartbeats arrive within the tolerance",
            self.link_up.clone(),
        );
        r.register(
            "edge_spool_depth",
            "The edge's spool depth, from its last heartbeat",
            self.edge_spool_depth.clone(),
        );
        r.register(
            "unverified_sessions",
            "Sessions no signed record has vouched for yet",
            self.unverified_sessions.clone(),
        );
        r.register(
            "disk_bytes",
            "Bytes of the reassembly directory taken",
            self.disk_bytes.clone(),
        );
        r.register(
            "disk_full",
            "Blocks held in memory: reassembly disk budget full",
            self.disk_full.clone(),
        );
        r.register(
            "edge_epoch",
            "The newest edge run heard",
            self.edge_epoch.clone(),
        );
    }
}

/// The edge's link metrics.
#[derive(Debug, Clone, Default)]
pub struct SenderMetrics {
    /// Datagrams sent.
    pub datagrams: Counter,
    /// Bytes sent.
    pub bytes: Counter,
    /// Send errors (the socket refused a datagram).
    pub send_errors: Counter,
    /// Objects sent (first time).
    pub objects_sent: Counter,
    /// Objects re-sent by replay.
    pub objects_replayed: Counter,
    /// Objects aborted.
    pub objects_aborted: Counter,
    /// Objects accepted into the spool.
    pub objects_spooled: Counter,
    /// Inputs refused at the edge (too large, not allowed).
    pub inputs_refused: Counter,
    /// DICOM connections closed unheard: past the bound per peer address, or given up for a
    /// newer one while waiting for their association request.
    pub connections_refused: Counter,
    /// DICOM connections cut for being idle or too slow (no association request within the
    /// ARTIM time, a PDU not complete within its time, nothing between PDUs for too long).
    pub connections_cut: Counter,
    /// Objects in the spool.
    pub spool_depth: Gauge,
    /// Bytes in the spool.
    pub spool_bytes: Gauge,
    /// Objects spooled but not yet sent.
    pub backlog: Gauge,
}

impl SenderMetrics {
    /// Registers every metric under `sluis_link_tx_`.
    pub fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("sluis_link_tx");
        r.register("datagrams", "Datagrams sent", self.datagrams.clone());
        r.register("bytes", "Bytes sent", self.bytes.clone());
        r.register(
            "send_errors",
            "Datagrams the socket refused",
            self.send_errors.clone(),
        );
        r.register(
            "objects_sent",
            "Objects sent the first time",
            self.objects_sent.clone(),
        );
        r.register(
            "objects_replayed",
            "Objects re-sent by replay",
            self.objects_replayed.clone(),
        );
        r.register(
            "objects_aborted",
            "Objects aborted",
            self.objects_aborted.clone(),
        );
        r.register(
            "objects_spooled",
            "Objects accepted into the spool",
            self.objects_spooled.clone(),
        );
        r.register(
            "inputs_refused",
            "Inputs refused at the edge",
            self.inputs_refused.clone(),
        );
        r.register(
            "connections_refused",
            "DICOM connections closed unheard (per-peer bound, waiting room full)",
            self.connections_refused.clone(),
        );
        r.register(
            "connections_cut",
            "DICOM connections cut for being idle or too slow",
            self.connections_cut.clone(),
        );
        r.register(
            "spool_depth",
            "Objects in the spool",
            self.spool_depth.clone(),
        );
        r.register(
            "spool_bytes",
            "Bytes in the spool",
            self.spool_bytes.clone(),
        );
        r.register(
            "backlog",
            "Objects spooled but not yet sent",
            self.backlog.clone(),
        );
    }
}

/// Renders a registry as OpenMetrics text.
pub fn render(registry: &Registry) -> String {
    let mut s = String::new();
    if prometheus_client::encoding::text::encode(&mut s, registry).is_err() {
        s.clear();
    }
    s
}
