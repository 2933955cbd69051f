//! The demo's and the benchmark's scanner: a C-STORE client over dicom-ul. It sends files
//! sluis wrote itself, so it is not part of the hostile side; it reads the edge's answers with
//! the same bounded codec.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use dicom_ul::association::client::ClientAssociationOptions;
use dicom_ul::pdu::{PDataValue, PDataValueType, Pdu};
use sluis_scan::{SopClass, TransferSyntax};

use super::command::{STATUS_SUCCESS, parse_command, store_rq};
use super::part10::file_meta;
use super::scp::command_pdu;

/// Why the client stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScuError {
    /// The association failed.
    #[error("association: {0}")]
    Association(#[from] dicom_ul::association::Error),
    /// A file could not be read.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A file is not a PS3.10 file sluis wrote, or its class was not accepted.
    #[error("{path}: {why}")]
    Unsendable {
        /// The file.
        path: PathBuf,
        /// Why.
        why: String,
    },
    /// The edge answered something other than a C-STORE response.
    #[error("the edge answered out of turn: {0}")]
    Answer(String),
}

/// Sends `files` by C-STORE over one association at most `rate` files per second (0: as fast
/// as the edge answers), calling `sent` after each acknowledged store. Returns how many the
/// edge accepted.
pub fn store_scu(
    addr: &str,
    calling: &str,
    called: &str,
    files: &[PathBuf],
    rate: f64,
    sent: &mut dyn FnMut(usize),
) -> Result<usize, ScuError> {
    let mut options = ClientAssociationOptions::new()
        .calling_ae_title(calling)
        .called_ae_title(called)
        .max_pdu_length(128 * 1024);
    for class in SopClass::ALL {
        options = options.with_presentation_context(
            class.uid(),
            vec![TransferSyntax::ExplicitVrLittleEndian.uid()],
        );
    }
    let mut assoc = options.establish_with(addr)?;
    let contexts: Vec<(u8, String)> = assoc
        .presentation_contexts()
        .iter()
        .filter(|pc| pc.reason == dicom_ul::pdu::PresentationContextResultReason::Acceptance)
        .map(|pc| (pc.id, pc.abstract_syntax.trim_end_matches('\0').to_string()))
        .collect();
    let chunk = (assoc.acceptor_max_pdu_length().max(16 * 1024) as usize).saturating_sub(64);
    let started = Instant::now();
    let mut accepted = 0;
    let unsendable = |path: &Path, why: String| ScuError::Unsendable {
        path: path.to_path_buf(),
        why,
    };
    for (i, path) in files.iter().enumerate() {
        if rate > 0.0 {
            let due = started + Duration::from_secs_f64(i as f64 / rate);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
        let bytes = std::fs::read(path).map_err(|source| ScuError::File {
            path: path.clone(),
            source,
        })?;
        let meta = file_meta(&bytes).map_err(|e| unsendable(path, e.to_string()))?;
        let Some((pcid, _)) = contexts.iter().find(|(_, c)| *c == meta.sop_class) else {
            return Err(unsendable(
                path,
                format!("no presentation context for {}", meta.sop_class),
            ));
        };
        let message_id = u16::try_from(i % usize::from(u16::MAX)).unwrap_or(0) + 1;
        assoc.send(&command_pdu(
            *pcid,
            store_rq(message_id, &meta.sop_class, &meta.sop_instance),
        ))?;
        let data = bytes.get(meta.data_start..).unwrap_or_default();
        let mut pieces = data.chunks(chunk).peekable();
        while let Some(piece) = pieces.next() {
            assoc.send(&Pdu::PData {
                data: vec![PDataValue {
                    presentation_context_id: *pcid,
                    value_type: PDataValueType::Data,
                    is_last: pieces.peek().is_none(),
                    data: piece.to_vec(),
                }],
            })?;
        }
        match assoc.receive()? {
            Pdu::PData { data } => {
                let rsp = data
                    .into_iter()
                    .find(|v| v.value_type == PDataValueType::Command)
                    .ok_or_else(|| ScuError::Answer("no C-STORE response".into()))?;
                let c = parse_command(&rsp.data).map_err(|e| ScuError::Answer(e.to_string()))?;
                if c.status == STATUS_SUCCESS {
                    accepted += 1;
                }
            }
            other => return Err(ScuError::Answer(format!("{other:?}"))),
        }
        sent(i + 1);
    }
    let _ = assoc.release();
    Ok(accepted)
}
