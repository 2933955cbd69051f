//! Where alerts go: an EVE JSON file, syslog over TCP or TLS (RFC 5425 octet-counted framing),
//! and Prometheus metrics.

use std::io::{BufWriter, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::alert::Alert;
use crate::detect::Stats;
use crate::eve;

/// Appends EVE JSON lines to a file (or any writer).
#[derive(Debug)]
pub struct EveWriter<W: Write> {
    out: BufWriter<W>,
    sensor: String,
    capture: Option<String>,
}

impl EveWriter<std::fs::File> {
    /// Opens (appends to) an EVE file.
    pub fn create(path: &Path, sensor: &str, capture: Option<&str>) -> std::io::Result<Self> {
        let file = sluis_secret::append_private(path)?;
        Ok(Self::new(file, sensor, capture))
    }
}

impl<W: Write> EveWriter<W> {
    /// Writes to `out`.
    pub fn new(out: W, sensor: &str, capture: Option<&str>) -> Self {
        Self {
            out: BufWriter::new(out),
            sensor: sensor.to_string(),
            capture: capture.map(str::to_string),
        }
    }

    /// Writes one alert as one line.
    pub fn write(&mut self, a: &Alert) -> std::io::Result<()> {
        let event = eve::alert_event(a, &self.sensor, self.capture.as_deref());
        serde_json::to_writer(&mut self.out, &event)?;
        self.out.write_all(b"\n")
    }

    /// Flushes to the file.
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// A syslog connection (RFC 5424 messages, RFC 6587/5425 octet counting) over TCP or TLS.
pub struct Syslog {
    stream: Box<dyn Write + Send>,
    sensor: String,
}

impl std::fmt::Debug for Syslog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Syslog")
            .field("sensor", &self.sensor)
            .finish()
    }
}

/// Why a syslog connection could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SyslogError {
    /// TCP.
    #[error("connect to {addr}: {source}")]
    Connect {
        /// The collector.
        addr: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The CA file.
    #[error("CA certificates in {path}: {detail}")]
    Ca {
        /// The file.
        path: String,
        /// What was wrong.
        detail: String,
    },
    /// The server name for TLS.
    #[error("{0:?} is not a valid TLS server name")]
    ServerName(String),
    /// TLS setup.
    #[error("TLS: {0}")]
    Tls(#[from] rustls::Error),
}

impl Syslog {
    /// Connects to `addr` over plain TCP.
    pub fn tcp(addr: &str, sensor: &str) -> Result<Self, SyslogError> {
        let stream = connect(addr)?;
        Ok(Self {
            stream: Box::new(BufWriter::new(stream)),
            sensor: sensor.to_string(),
        })
    }

    /// Connects to `addr` over TLS (RFC 5425), trusting only the CA certificates in `ca_pem` and
    /// checking the server's certificate against `server_name`.
    pub fn tls(
        addr: &str,
        server_name: &str,
        ca_pem: &Path,
        sensor: &str,
    ) -> Result<Self, SyslogError> {
        use rustls::pki_types::pem::PemObject;
        let ca_err = |detail: String| SyslogError::Ca {
            path: ca_pem.display().to_string(),
            detail,
        };
        let mut roots = rustls::RootCertStore::empty();
        let certs = rustls::pki_types::CertificateDer::pem_file_iter(ca_pem)
            .map_err(|e| ca_err(e.to_string()))?;
        for cert in certs {
            roots
                .add(cert.map_err(|e| ca_err(e.to_string()))?)
                .map_err(|e| ca_err(e.to_string()))?;
        }
        if roots.is_empty() {
            return Err(ca_err("no certificate found".into()));
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = rustls::pki_types::ServerName::try_from(server_name.to_string())
            .map_err(|_| SyslogError::ServerName(server_name.to_string()))?;
        let conn = rustls::ClientConnection::new(Arc::new(config), name)?;
        let tcp = connect(addr)?;
        let tls = rustls::StreamOwned::new(conn, tcp);
        Ok(Self {
            stream: Box::new(BufWriter::new(tls)),
            sensor: sensor.to_string(),
        })
    }

    /// Sends one alert.
    pub fn send(&mut self, a: &Alert) -> std::io::Result<()> {
        let event = eve::alert_event(a, &self.sensor, None);
        let line = eve::syslog_line(a, &self.sensor, &event);
        write!(self.stream, "{} {}", line.len(), line)
    }

    /// Flushes what is buffered.
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.stream.flush()
    }
}

fn connect(addr: &str) -> Result<TcpStream, SyslogError> {
    let stream = TcpStream::connect(addr).map_err(|source| SyslogError::Connect {
        addr: addr.to_string(),
        source,
    })?;
    let _ = stream.set_write_timeout(Some(Duration::from_secs(10)));
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RuleLabel {
    rule: String,
}

/// Prometheus metrics of the watch.
#[derive(Debug, Default)]
pub struct Metrics {
    frames: Counter,
    bytes: Counter,
    undecoded: Counter,
    flow_records: Counter,
    flows: Counter,
    flows_evicted: Counter,
    alerts: Family<RuleLabel, Counter>,
    live_flows: Gauge,
    last: Stats,
}

impl Metrics {
    /// Registers the metrics.
    pub fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("sluis_watch");
        r.register("frames", "Frames read", self.frames.clone());
        r.register(
            "bytes",
            "Bytes on the wire of the frames read",
            self.bytes.clone(),
        );
        r.register(
            "undecoded",
            "Frames that could not be decoded",
            self.undecoded.clone(),
        );
        r.register(
            "flow_records",
            "Exported flow records read",
            self.flow_records.clone(),
        );
        r.register("flows", "Flows started", self.flows.clone());
        r.register(
            "flows_evicted",
            "Flows evicted from a full table",
            self.flows_evicted.clone(),
        );
        r.register("alerts", "Alerts raised, by rule", self.alerts.clone());
        r.register("live_flows", "Flows in the table", self.live_flows.clone());
    }

    /// Brings the counters up to `stats`.
    pub fn update(&mut self, stats: &Stats, live_flows: usize) {
        let add = |c: &Counter, now: u64, before: u64| {
            c.inc_by(now.saturating_sub(before));
        };
        add(&self.frames, stats.frames, self.last.frames);
        add(&self.bytes, stats.bytes, self.last.bytes);
        add(&self.undecoded, stats.undecoded, self.last.undecoded);
        add(
            &self.flow_records,
            stats.flow_records,
            self.last.flow_records,
        );
        add(&self.flows, stats.flows, self.last.flows);
        add(
            &self.flows_evicted,
            stats.flows_evicted,
            self.last.flows_evicted,
        );
        self.live_flows
            .set(i64::try_from(live_flows).unwrap_or(i64::MAX));
        self.last = stats.clone();
    }

    /// Counts one alert.
    pub fn alert(&self, a: &Alert) {
        self.alerts
            .get_or_create(&RuleLabel {
                rule: a.rule.id().to_string(),
            })
            .inc();
    }
}

/// Every alert to each configured sink, the counters to the metrics: the observer the CLI's
/// loops drive. A sink that fails is remembered (the first error) and the others carry on, so
/// one broken syslog connection does not stop the EVE file; [`Outputs::finish`] reports it.
#[derive(Debug, Default)]
pub struct Outputs {
    /// The EVE file, if any.
    pub eve: Option<EveWriter<std::fs::File>>,
    /// The syslog collector, if any.
    pub syslog: Option<Syslog>,
    /// The metrics the exporter serves, if any.
    pub metrics: Option<Metrics>,
    /// Also print each alert (time, rule, message) on standard output.
    pub print: bool,
    /// Alerts handed out so far.
    pub count: u64,
    failure: Option<std::io::Error>,
}

impl Outputs {
    /// Alerts to these sinks (and printed when `print`), counters to `metrics`.
    pub fn new(
        eve: Option<EveWriter<std::fs::File>>,
        syslog: Option<Syslog>,
        metrics: Option<Metrics>,
        print: bool,
    ) -> Self {
        Self {
            eve,
            syslog,
            metrics,
            print,
            count: 0,
            failure: None,
        }
    }

    /// Flushes the sinks; the first error any of them had, if one did.
    pub fn finish(&mut self) -> std::io::Result<()> {
        if let Some(e) = self.eve.as_mut() {
            e.flush()?;
        }
        if let Some(s) = self.syslog.as_mut() {
            s.flush()?;
        }
        self.failure.take().map_or(Ok(()), Err)
    }

    fn write(&mut self, a: &Alert) -> std::io::Result<()> {
        if let Some(e) = self.eve.as_mut() {
            e.write(a)?;
        }
        if let Some(s) = self.syslog.as_mut() {
            s.send(a)?;
        }
        Ok(())
    }
}

impl crate::run::Observer for Outputs {
    fn alert(&mut self, a: &Alert) {
        self.count = self.count.saturating_add(1);
        if self.print {
            println!("{} {} {}", eve::timestamp(a.ts), a.rule.id(), a.message);
        }
        if let Some(m) = &self.metrics {
            m.alert(a);
        }
        if let Err(e) = self.write(a) {
            self.failure.get_or_insert(e);
        }
    }

    fn stats(&mut self, stats: &Stats, live_flows: usize) {
        if let Some(m) = self.metrics.as_mut() {
            m.update(stats, live_flows);
        }
    }
}
