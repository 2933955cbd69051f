//! `sluis witness init | serve`: a C2SP tlog-witness, run by an auditor on their own key.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use clap::Subcommand;
use sluis_audit::keys::{read_secret, write_secret};
use sluis_audit::witness::MAX_BODY_BYTES;
use sluis_audit::{Cosigner, Witness};

use crate::failure::Failure;

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Create a witness signing key (mode 0600) and print its public key.
    Init {
        /// The witness's name, e.g. witness.auditor.example.
        #[arg(long)]
        name: String,
        /// Where to write the secret key.
        #[arg(long)]
        key_file: PathBuf,
    },
    /// Serve `POST /add-checkpoint` (C2SP tlog-witness): cosign each checkpoint of a known log
    /// that is consistent with the last one cosigned. Prints `listening on http://ADDR` when
    /// ready; stops on SIGINT or SIGTERM.
    Serve {
        /// The witness's secret key file.
        #[arg(long)]
        key_file: PathBuf,
        /// Public key of a log to witness (or a file holding it); repeat for each.
        #[arg(long = "log", required = true)]
        logs: Vec<String>,
        /// Where the witness keeps the latest size and root it cosigned for each log.
        #[arg(long)]
        state: PathBuf,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:7380")]
        listen: SocketAddr,
    },
}

async fn add_checkpoint(State(w): State<Arc<Witness>>, body: Bytes) -> Response {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    // The witness fsyncs its state before answering: off the async workers.
    let answer = tokio::task::spawn_blocking(move || w.add_checkpoint(&body, now)).await;
    match answer {
        Ok(r) => {
            let status =
                StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (status, [(header::CONTENT_TYPE, r.content_type)], r.body).into_response()
        }
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response(),
    }
}

async fn shutdown_signal() {
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}

pub(crate) fn run(cmd: Command) -> Result<(), Failure> {
    match cmd {
        Command::Init { name, key_file } => {
            let c = Cosigner::generate(&name).map_err(|e| Failure::Usage(e.to_string()))?;
            write_secret(&key_file, &c.to_skey()).map_err(Failure::env)?;
            println!("{}", c.vkey());
            eprintln!(
                "witness key written to {} (mode 0600); give the public key above to the log operator",
                key_file.display()
            );
            Ok(())
        }
        Command::Serve {
            key_file,
            logs,
            state,
            listen,
        } => {
            let skey = read_secret(&key_file).map_err(Failure::env)?;
            let cosigner = Cosigner::from_skey(skey.trim())
                .map_err(|e| Failure::env(anyhow::anyhow!("{}: {e}", key_file.display())))?;
            let keys = logs
                .iter()
                .map(|l| crate::audit::key_arg(l))
                .collect::<Result<Vec<_>, _>>()?;
            let vkey = cosigner.vkey();
            let witness = Arc::new(
                Witness::new(cosigner, &keys, state)
                    .map_err(|e| Failure::env(anyhow::anyhow!(e)))?,
            );
            let app = axum::Router::new()
                .route("/add-checkpoint", post(add_checkpoint))
                .route("/", get(move || async move { format!("{vkey}\n") }))
                .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
                .with_state(witness);
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .map_err(Failure::env)?;
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind(listen)
                    .await
                    .map_err(|e| Failure::env(anyhow::anyhow!("listening on {listen}: {e}")))?;
                let addr = listener.local_addr().map_err(Failure::env)?;
                println!("listening on http://{addr}");
                use std::io::Write as _;
                let _ = std::io::stdout().flush();
                axum::serve(listener, app)
                    .with_graceful_shutdown(shutdown_signal())
                    .await
                    .map_err(Failure::env)
            })
        }
    }
}
