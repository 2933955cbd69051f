//! `sluis demo`: the pipeline end to end on synthetic scans, on the embedded defaults.
//!
//! A synthetic scanner makes scans (and a few hostile files, as a compromised scanner might)
//! and sends them by DICOM C-STORE to `sluis edge` (the hostile ones go to its drop folder); the
//! edge spools them and sends them over the one-way link to `sluis core` on loopback, which
//! sanitises each in a capped worker process and stores it encrypted in a new vault (refusals go
//! to its quarantine with their reason), every step in the transparency log, while live counts
//! are printed; previews are rendered; an analyst reads, decides on and exports a scan with its
//! receipt; and an auditor verifies the whole log and the receipt with the log's public key
//! alone.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args as ClapArgs;
use sluis_audit::{Policy, verify_log, verify_receipt};
use sluis_core::{CoreEvent, Source};
use sluis_scan::render::{self, RenderOptions};
use sluis_scan::{DicosObject, Limits, sanitise};
use sluis_vault::{Decision, Vault};

use crate::failure::Failure;
use crate::files::{read_bounded, write_atomic, write_bytes, write_json};
use crate::synth::write_series;
use crate::vault::vault_failure;

#[derive(Debug, ClapArgs)]
pub(crate) struct Args {
    /// Where to put the demo's files.
    #[arg(long, default_value = "sluis-demo")]
    pub out: PathBuf,
    /// Number of synthetic scans.
    #[arg(long, default_value_t = 6)]
    pub count: u32,
    /// Seed of the synthetic scanner.
    #[arg(long, default_value_t = 2026)]
    pub seed: u64,
    /// How many files per second the synthetic scanner sends by C-STORE.
    #[arg(long, default_value_t = 8.0)]
    pub rate: f64,
    /// Serve the workstation over the demo's vault afterwards, until Ctrl-C (the default when
    /// run from a terminal).
    #[arg(long, conflicts_with = "no_serve")]
    pub serve: bool,
    /// Do not serve the workstation afterwards (the default when not run from a terminal).
    #[arg(long)]
    pub no_serve: bool,
}

const MARKER: &str = ".sluis-demo";

fn prepare(out: &Path) -> Result<(), Failure> {
    if out.exists() && !out.join(MARKER).exists() {
        return Err(Failure::env(anyhow::anyhow!(
            "{} exists and was not made by `sluis demo`; choose another --out",
            out.display()
        )));
    }
    // Owner-only, whatever the umask: the demo's tree holds scans, keys and the vault.
    sluis_secret::private_dir(out).map_err(|e| Failure::env(anyhow::anyhow!(e)))?;
    for sub in [
        "lock",
        "scanner",
        "sanitised",
        "quarantine",
        "previews",
        "vault",
        "exports",
        "watch",
    ] {
        let dir = out.join(sub);
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        if sub != "vault" && sub != "quarantine" {
            sluis_secret::private_dir(&dir).map_err(|e| Failure::env(anyhow::anyhow!(e)))?;
        }
    }
    write_bytes(&out.join(MARKER), b"made by sluis demo\n")
}

/// The hostile files a compromised scanner drops among the real ones.
const HOSTILE: [&str; 4] = [
    "private-overlay-document",
    "trailing-bytes",
    "dimension-bomb",
    "nesting-20000",
];

pub(crate) fn run(args: &Args, limits: &Limits) -> Result<(), Failure> {
    let out = &args.out;
    prepare(out)?;
    let scanner = out.join("scanner");
    println!(
        "sluis demo: synthetic scanner -> C-STORE -> sluis edge -> one-way link -> sluis core -> sanitiser -> encrypted vault + transparency log -> analyst -> auditor\n"
    );
    let started = Instant::now();
    let written = write_series(&scanner, args.count, args.seed, None, 5.0, 3)?;
    for case in sluis_synth::hostile::corpus(1 << 20) {
        if HOSTILE.contains(&case.name.as_str()) {
            write_bytes(
                &scanner.join(format!("hostile-{}.dcs", case.name)),
                &case.bytes,
            )?;
        }
    }
    println!(
        "  scanner wrote {} scans (with ground truth) and {} hostile files in {:.1} s",
        written.len(),
        HOSTILE.len(),
        started.elapsed().as_secs_f64()
    );

    let mut inputs: Vec<PathBuf> = std::fs::read_dir(&scanner)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    inputs.sort();
    let (sent_files, dropped_files): (Vec<PathBuf>, Vec<PathBuf>) = inputs
        .iter()
        .cloned()
        .partition(|p| !file_name(p).starts_with("hostile-"));
    // The vault, made here and then held by the core while it runs.
    drop(Vault::init(&out.join("vault"), Some("sluis.demo/vault")).map_err(vault_failure)?);
    let fates = run_lock(out, &sent_files, &dropped_files, args.rate)?;
    let vault = Vault::open(&out.join("vault")).map_err(vault_failure)?;
    let mut stored = Vec::new();
    let (mut accepted, mut refused, mut dropped_total) = (0usize, 0usize, 0usize);
    let mut bytes_in = 0u64;
    let sanitise_started = Instant::now();
    println!(
        "\n  {:<40} {:<10} {:<34}  details",
        "file", "verdict", "vault id"
    );
    for input in &inputs {
        let name = file_name(input);
        let bytes = read_bounded(input, limits)?;
        bytes_in += bytes.len() as u64;
        let fate = fates.get(&name);
        match (sanitise(&bytes, limits), fate) {
            (Ok(s), Some(Fate::Stored(id))) => {
                accepted += 1;
                dropped_total += s.report.dropped.len();
                let stem = name.trim_end_matches(".dcs");
                let id = id.clone();
                if matches!(s.scan.object(), DicosObject::Image(_)) {
                    stored.push((id.clone(), name.clone()));
                }
                write_json(
                    &out.join("sanitised").join(format!("{stem}.report.json")),
                    &s.report,
                )?;
                let details = match s.scan.object() {
                    DicosObject::Image(scan) => {
                        for (material, suffix) in [(false, ""), (true, "-material")] {
                            let picture = match render::render(
                                scan,
                                &RenderOptions {
                                    material,
                                    ..RenderOptions::default()
                                },
                            ) {
                                Ok(p) => p,
                                // Single-energy images have no material colouring.
                                Err(render::RenderError::NoDualEnergy(_)) => continue,
                                Err(e) => return Err(Failure::Internal(e.into())),
                            };
                            let png = out.join("previews").join(format!("{stem}{suffix}.png"));
                            write_atomic(&png, |w| {
                                render::write_png(&picture, w)
                                    .map_err(|e| Failure::Internal(e.into()))
                            })?;
                        }
                        format!(
                            "{} x {}, {} channels, dropped {}",
                            scan.image.columns,
                            scan.image.rows,
                            scan.image.channels.len(),
                            s.report.dropped.len()
                        )
                    }
                    DicosObject::ThreatReport(r) => format!(
                        "{} report: {} threat(s), decision {}",
                        r.tdr_type,
                        r.threats.len(),
                        r.alarm
                            .as_ref()
                            .map_or("-".to_string(), ToString::to_string)
                    ),
                };
                println!("  {name:<40} {:<10} {id}  {details}", "stored");
            }
            (_, Some(Fate::Quarantined(id, reason))) => {
                refused += 1;
                println!("  {name:<40} {:<10} {id}  {reason}", "REFUSED");
            }
            (_, other) => {
                return Err(Failure::Internal(anyhow::anyhow!(
                    "{name}: the core said {other:?}; expected it stored or quarantined"
                )));
            }
        }
    }
    let secs = sanitise_started.elapsed().as_secs_f64();
    println!(
        "\n  {} files, {:.1} MB: {accepted} stored in the vault ({dropped_total} elements dropped), {refused} refused and quarantined; reports and previews rendered in {:.2} s\n",
        inputs.len(),
        bytes_in as f64 / 1e6,
        secs
    );
    for w in &written {
        if !w.generated.concealments.is_empty() {
            println!(
                "  hidden in {}: {}",
                w.image
                    .file_name()
                    .map(|n| n.to_string_lossy())
                    .unwrap_or_default(),
                w.generated.concealments.join("; ")
            );
        }
    }
    custody(out, &vault, &stored)?;
    let accounts = demo_accounts(&out.join("vault"), &vault)?;
    let declared = declarations(out, &written)?;
    enclave_watch(out)?;
    println!("\nWhere to look:");
    println!(
        "  {}/scanner/      what the scanner sent (synthetic DICOS, ground-truth TDRs, hostile files)",
        out.display()
    );
    println!(
        "  {}/lock/         the edge and the core: their TOML, keys, logs, the spool, core/events.jsonl",
        out.display()
    );
    println!(
        "  {}/vault/        the vault: encrypted blobs, index, keys (0600), log/ (the transparency log), log.pub",
        out.display()
    );

    println!(
        "  {}/exports/      an exported scan and its .tlog-proof receipt",
        out.display()
    );
    println!(
        "  {}/sanitised/    each file's report of what the sanitiser dropped and why",
        out.display()
    );
    println!(
        "  {}/previews/     PNG previews: greyscale and material colour",
        out.display()
    );
    println!(
        "  {}/watch/        the enclave watch: a labelled capture, its policy, eve.json (Suricata EVE alerts)",
        out.display()
    );
    println!(
        "  {}/declarations.jsonl  {declared} customs declarations, shown beside their scans in the workstation",
        out.display()
    );
    let v = out.join("vault");
    println!("\nTry:");
    println!("  sluis vault list {}", v.display());
    println!("  sluis vault list {} --quarantine", v.display());
    println!("  sluis vault fsck {}", v.display());
    println!(
        "  sluis audit verify --log {}/log --key {}/log.pub",
        v.display(),
        v.display()
    );
    println!(
        "  sluis scan inspect {}/scanner/hostile-private-overlay-document.dcs",
        out.display()
    );
    println!(
        "  sluis watch run --policy {w}/policy.toml --pcap {w}/enclave.pcap --print",
        w = out.join("watch").display()
    );
    println!(
        "\nThe analyst workstation (HTTPS, a self-signed certificate made on first start), log in as:"
    );
    for (name, role, password) in &accounts {
        println!("    {name:<22} {role:<14} password {password}");
    }
    use std::io::IsTerminal;
    let serve = args.serve || (!args.no_serve && std::io::stdin().is_terminal());
    if !serve {
        println!(
            "  serve it with: sluis serve --vault {} --listen 127.0.0.1:8443   (or run the demo with --serve)",
            v.display()
        );
        return Ok(());
    }
    // The demo's own vault, served from this process until Ctrl-C.
    let vault = std::sync::Arc::new(vault);
    let stop = crate::service::stop_on_signal();
    let mut w = sluis_server::workstation::Workstation {
        listen: std::net::SocketAddr::from(([127, 0, 0, 1], 8443)),
        tls_cert: None,
        tls_key: None,
        plain_http: false,
        hosts: Vec::new(),
        request_timeout_s: 10,
        max_connections_per_client: 16,
    };
    let server = match crate::serve::start(vault.clone(), &v, &w, stop.clone()) {
        Ok(s) => s,
        Err(e) => {
            println!("  127.0.0.1:8443: {e:?}; taking a free port instead");
            w.listen.set_port(0);
            crate::serve::start(vault, &v, &w, stop)?
        }
    };
    println!(
        "  open the address above in a browser (accept the demo certificate); Ctrl-C stops it"
    );
    server
        .join()
        .map_err(|_| Failure::Internal(anyhow::anyhow!("the workstation panicked")))?
}

/// What the declaration system says each container holds: the cargo the synthetic scanner
/// loaded (not what it hid), written as JSON Lines and imported as `sluis declaration import`
/// does, so the analyst reads each image against its declaration.
fn declarations(out: &Path, written: &[crate::synth::Written]) -> Result<usize, Failure> {
    // Harmonized System headings of the synthetic cargo.
    let hs = |c: &str| match c {
        "bottled water" => Some("2201"),
        "steel coil" => Some("7208"),
        "tyres" => Some("4011"),
        "aluminium profiles" => Some("7604"),
        "machinery" => Some("8479"),
        "bulk bags" => Some("3901"),
        _ => None,
    };
    let mut lines = String::new();
    for (i, w) in written.iter().enumerate() {
        let c = &w.generated.scan.conveyance;
        let d = sluis_server::desk::Declaration {
            reference: format!("26NLDEMO{i:010}"),
            procedure: Some("import".into()),
            declared_at: None,
            containers: c
                .containers
                .iter()
                .map(|x| x.as_str().to_string())
                .collect(),
            conveyance: c.id.as_ref().map(|x| x.value.clone()),
            consignor: Some("Synthetic Exports Ltd".into()),
            consignee: Some("Demo Importers BV".into()),
            goods: w
                .generated
                .cargo
                .iter()
                .filter(|g| **g != "empty")
                .map(|g| sluis_server::desk::Goods {
                    description: (*g).to_string(),
                    hs_code: hs(g).map(str::to_string),
                    packages: None,
                    gross_kg: None,
                })
                .collect(),
        };
        if d.goods.is_empty() {
            continue;
        }
        lines.push_str(&serde_json::to_string(&d).map_err(Failure::env)?);
        lines.push('\n');
    }
    let file = out.join("declarations.jsonl");
    write_bytes(&file, lines.as_bytes())?;
    let list = crate::declaration::read(&file)?;
    sluis_server::desk::Desk::open(&out.join("vault"))
        .and_then(|mut d| d.import_declarations(&list, sluis_server::http::wall_clock()))
        .map_err(Failure::env)?;
    Ok(list.len())
}

/// One demo account per role, with a random password (printed, never stored in clear).
fn demo_accounts(vault: &Path, open: &Vault) -> Result<Vec<(String, String, String)>, Failure> {
    use sluis_server::{Accounts, Role};
    let accounts = Accounts::open(vault).map_err(Failure::env)?;
    let now = sluis_server::http::wall_clock();
    let mut made = Vec::new();
    for role in Role::ALL {
        let name = format!("{}.demo", role.name());
        let raw = sluis_audit::keys::random_32().map_err(Failure::env)?;
        let password: String = raw
            .iter()
            .take(12)
            .map(|b| char::from(b"abcdefghjkmnpqrstuvwxyz23456789"[usize::from(*b) % 31]))
            .collect();
        accounts
            .add(&name, role, password.as_bytes(), now, "os:sluis-demo")
            .map_err(Failure::env)?;
        made.push((name, role.name().to_string(), password));
    }
    // Each account's creation is a configuration record in the log.
    sluis_server::users::log_account_changes(&accounts, open).map_err(Failure::env)?;
    Ok(made)
}

/// The enclave watch over three hours of generated enclave traffic with one of each attack.
fn enclave_watch(out: &Path) -> Result<(), Failure> {
    use sluis_synth::enclave;
    let dir = out.join("watch");
    std::fs::create_dir_all(&dir)?;
    let spec = enclave::Spec::showcase();
    let pcap = dir.join("enclave.pcap");
    let file = std::fs::File::create(&pcap)?;
    let generated = enclave::generate(&spec, std::io::BufWriter::new(file))?;
    let policy_text = enclave::policy_toml(&spec, 50_000_000);
    std::fs::write(dir.join("policy.toml"), &policy_text)?;
    let policy = sluis_watch::Policy::parse(&policy_text)
        .map_err(|e| Failure::Internal(anyhow::anyhow!("demo policy: {e}")))?;
    let sensor = policy.sensor.clone();
    let mut eve =
        sluis_watch::sink::EveWriter::create(&dir.join("eve.json"), &sensor, Some("enclave.pcap"))?;
    let mut watch = sluis_watch::Watch::new(policy);
    let mut by_rule: std::collections::BTreeMap<&'static str, usize> = Default::default();
    let mut failure = None;
    sluis_watch::run::capture_file(&pcap, &mut watch, &mut |a: &sluis_watch::Alert| {
        *by_rule.entry(a.rule.id()).or_default() += 1;
        if let Err(e) = eve.write(a) {
            failure.get_or_insert(e);
        }
    })
    .map_err(|e| Failure::Internal(e.into()))?;
    eve.flush()?;
    if let Some(e) = failure {
        return Err(e.into());
    }
    println!(
        "\n  the enclave watch read {} frames ({:.0} MB, 3 h of 4 scanners) against the allow-list: {} alerts, {} injected attacks",
        generated.frames,
        generated.bytes as f64 / 1e6,
        by_rule.values().sum::<usize>(),
        generated.labels.len()
    );
    for (rule, n) in &by_rule {
        println!("    {rule:<28} {n}");
    }
    Ok(())
}

/// An analyst reads, decides on and exports a scan; an auditor verifies the log and the receipt.
fn custody(out: &Path, vault: &Vault, stored: &[(String, String)]) -> Result<(), Failure> {
    // A real scan, not the hostile file that was accepted once its payload was dropped.
    let Some((id, name)) = stored
        .iter()
        .find(|(_, n)| n.starts_with("scan-"))
        .or(stored.first())
    else {
        return Ok(());
    };
    let analyst = vault.actor("analyst.demo@customs.example");
    let read = vault
        .read(id, &analyst, "analysis")
        .map_err(vault_failure)?;
    vault
        .decide(id, Decision::Inspect, None, &analyst)
        .map_err(vault_failure)?;
    let exported = vault
        .export(id, false, &analyst, "evidence", None)
        .map_err(vault_failure)?;
    let dcm = out.join("exports").join(format!("{id}.dcm"));
    write_bytes(&dcm, &exported.released.bytes)?;
    write_bytes(
        &out.join("exports").join(format!("{id}.dcm.tlog-proof")),
        exported.receipt.as_bytes(),
    )?;
    println!(
        "  an analyst read {name} ({} bytes; logged as entry {} before release), ordered an inspection, and exported it with a receipt",
        read.bytes.len(),
        read.record.index
    );
    // The auditor's side: only the public key.
    let key = sluis_audit::NoteVerifier::new(&vault.log_verifier_key().map_err(vault_failure)?)
        .map_err(|e| Failure::Internal(e.into()))?;
    let policy = Policy {
        log: Some(key),
        records: true,
        ..Policy::default()
    };
    let store = sluis_audit::FsStore::new(vault.layout().log()).map_err(Failure::env)?;
    let report =
        verify_log(&store, &policy, |_, _| {}).map_err(|e| Failure::Verification(e.into()))?;
    let proven = verify_receipt(exported.receipt.as_bytes(), &policy)
        .map_err(|e| Failure::Verification(e.into()))?;
    println!(
        "  an auditor verified the whole log ({} entries, every tile recomputed) and the receipt (entry {}) with the public key alone",
        report.entries, proven.index
    );
    let fsck = vault.fsck(&mut |_, _, _| {}).map_err(vault_failure)?;
    println!(
        "  fsck: {} objects verified, {} damaged",
        fsck.verified,
        fsck.damaged.len()
    );
    Ok(())
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default()
}

/// What the core said about a file.
#[derive(Debug, Clone)]
enum Fate {
    Stored(String),
    Quarantined(String, String),
}

fn free_port(udp: bool) -> Result<u16, Failure> {
    Ok(if udp {
        std::net::UdpSocket::bind("127.0.0.1:0")?
            .local_addr()?
            .port()
    } else {
        std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port()
    })
}

/// Stops a child process with SIGTERM (then SIGKILL) when dropped.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .arg(self.0.id().to_string())
            .status();
        let deadline = Instant::now() + std::time::Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.0.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The lock on loopback: `sluis core` and `sluis edge` as processes, a synthetic scanner
/// sending `sent` by C-STORE at `rate` files per second, and `dropped` put into the edge's drop
/// folder (as a compromised scanner might). Prints live counts until every file has a fate.
fn run_lock(
    out: &Path,
    sent: &[PathBuf],
    dropped: &[PathBuf],
    rate: f64,
) -> Result<std::collections::HashMap<String, Fate>, Failure> {
    let lock = out.join("lock");
    std::fs::create_dir_all(lock.join("drop"))?;
    let key = sluis_link::EdgeKey::generate().map_err(Failure::env)?;
    key.write(&lock.join("edge.key")).map_err(Failure::env)?;
    write_bytes(
        &lock.join("edge.pub"),
        format!("{}\n", key.verifier().to_text()).as_bytes(),
    )?;
    let (link, dicom) = (free_port(true)?, free_port(false)?);
    let vault = out.join("vault");
    write_bytes(
        &lock.join("edge.toml"),
        format!(
            "# sluis edge, as the demo runs it (see README.md for every key)\n\
             [link]\nto = \"127.0.0.1:{link}\"\nrate_mbit = 800\nheartbeat_ms = 250\n\
             [edge]\nkey = \"edge.key\"\nspool = \"spool\"\n\
             [dicom]\nlisten = \"127.0.0.1:{dicom}\"\nallowed_calling = [\"DEMO-SCANNER\"]\n\
             [drop]\ndir = \"drop\"\nsettle_ms = 200\n"
        )
        .as_bytes(),
    )?;
    write_bytes(
        &lock.join("core.toml"),
        format!(
            "# sluis core, as the demo runs it\n\
             [link]\nlisten = \"127.0.0.1:{link}\"\nedge_key = \"edge.pub\"\n\
             [core]\nvault = \"{}\"\nwork = \"core\"\n",
            std::fs::canonicalize(&vault)?.display()
        )
        .as_bytes(),
    )?;
    let exe = std::env::current_exe()?;
    let spawn = |what: &str| -> Result<Child, Failure> {
        let log = std::fs::File::create(lock.join(format!("{what}.log")))?;
        Ok(Child(
            std::process::Command::new(&exe)
                .arg(what)
                .arg("--config")
                .arg(lock.join(format!("{what}.toml")))
                .stdout(std::process::Stdio::null())
                .stderr(log)
                .spawn()?,
        ))
    };
    println!(
        "  the lock on loopback: sluis edge (DICOM on 127.0.0.1:{dicom}) ==UDP 127.0.0.1:{link}, one way==> sluis core -> vault"
    );
    let mut core = spawn("core")?;
    let edge = spawn("edge")?;
    let deadline = Instant::now() + std::time::Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", dicom)).is_err() {
        if Instant::now() > deadline {
            return Err(Failure::env(anyhow::anyhow!(
                "the edge did not start; see {}",
                lock.join("edge.log").display()
            )));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let progress = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let scu = {
        let (files, progress) = (sent.to_vec(), progress.clone());
        let target = format!("SLUIS-EDGE@127.0.0.1:{dicom}");
        std::thread::spawn(move || {
            sluis_edge::dimse::scu::store_scu(
                &target,
                "DEMO-SCANNER",
                "SLUIS-EDGE",
                &files,
                rate,
                &mut |n| {
                    progress.store(n, std::sync::atomic::Ordering::Relaxed);
                },
            )
        })
    };
    for f in dropped {
        let name = file_name(f);
        let part = lock.join("drop").join(format!("{name}.part"));
        std::fs::copy(f, &part)?;
        std::fs::rename(&part, lock.join("drop").join(&name))?;
    }
    let total = sent.len() + dropped.len();
    let events_path = lock.join("core").join("events.jsonl");
    let started = Instant::now();
    let tty = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let mut last_line = String::new();
    let events = loop {
        let events = sluis_core::events::read(&events_path).unwrap_or_default();
        let count = |k: fn(&CoreEvent) -> bool| events.iter().filter(|e| k(&e.event)).count();
        let (stored, quarantined, lost) = (
            count(|e| matches!(e, CoreEvent::Stored { .. })),
            count(|e| matches!(e, CoreEvent::Quarantined { .. })),
            count(|e| matches!(e, CoreEvent::Lost { .. })),
        );
        let line = format!(
            "  live: scanner sent {}/{} by C-STORE, {} dropped in the drop folder | core: {stored} stored, {quarantined} quarantined, {lost} lost | {:.1} s",
            progress.load(std::sync::atomic::Ordering::Relaxed),
            sent.len(),
            dropped.len(),
            started.elapsed().as_secs_f64()
        );
        let done = stored + quarantined + lost >= total;
        if !done && core.0.try_wait().ok().flatten().is_some() {
            return Err(Failure::env(anyhow::anyhow!(
                "the core stopped; see {}",
                lock.join("core.log").display()
            )));
        }

        if tty {
            print!("\r{line}");
            let _ = std::io::Write::flush(&mut std::io::stdout());
        } else if line.split('|').nth(1) != last_line.split('|').nth(1) || done {
            println!("{line}");
        }
        last_line = line;
        if done || started.elapsed() > std::time::Duration::from_secs(180) {
            if tty {
                println!();
            }
            break events;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    match scu.join() {
        Ok(Ok(n)) if n == sent.len() => {}
        Ok(Ok(n)) => println!("  the edge accepted {n} of {} C-STOREs", sent.len()),
        Ok(Err(e)) => return Err(Failure::env(anyhow::anyhow!("synthetic scanner: {e:#}"))),
        Err(_) => {
            return Err(Failure::Internal(anyhow::anyhow!(
                "synthetic scanner panicked"
            )));
        }
    }
    // Stop both ends (the core releases the vault).
    drop(edge);
    drop(core);
    let mut instances = std::collections::HashMap::new();
    for p in sent {
        let bytes = std::fs::read(p)?;
        if let Ok(m) = sluis_edge::dimse::part10::file_meta(&bytes) {
            instances.insert(m.sop_instance, file_name(p));
        }
    }
    let mut fates = std::collections::HashMap::new();
    for e in events {
        // Drop-folder files name themselves; a C-STORE names its SOP instance.
        let name_of = |source: &Source| match source {
            Source::DropFolder { name } => Some(name.clone()),
            Source::CStore { sop_instance, .. } => instances.get(sop_instance).cloned(),
            _ => None,
        };
        let (name, fate) = match e.event {
            CoreEvent::Stored { scan, source, .. } => (name_of(&source), Fate::Stored(scan)),
            CoreEvent::Quarantined {
                quarantine,
                reason,
                source,
                ..
            } => (name_of(&source), Fate::Quarantined(quarantine, reason)),
            _ => continue,
        };
        if let Some(name) = name {
            fates.insert(name, fate);
        }
    }
    if fates.len() < total {
        return Err(Failure::Internal(anyhow::anyhow!(
            "only {} of {total} files reached the vault; see {}",
            fates.len(),
            lock.display()
        )));
    }
    Ok(fates)
}
