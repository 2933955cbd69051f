//! Reading input within limits and writing output atomically.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::Path;

use sluis_scan::Limits;

use crate::failure::Failure;

/// Reads a file, refusing it before reading if it is larger than the limits allow.
pub(crate) fn read_bounded(path: &Path, limits: &Limits) -> Result<Vec<u8>, Failure> {
    let file = File::open(path)
        .map_err(|e| Failure::env(anyhow::anyhow!("opening {}: {e}", path.display())))?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let refused = |refusal| Failure::Refused {
        input: path.display().to_string(),
        refusal,
    };
    limits.check_file_size(len).map_err(refused)?;
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    file.take(limits.max_file_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| Failure::env(anyhow::anyhow!("reading {}: {e}", path.display())))?;
    // The file may have grown since its size was read.
    limits
        .check_file_size(bytes.len() as u64)
        .map_err(refused)?;
    Ok(bytes)
}

/// Writes a file through a temporary file in the same directory, renamed into place only when
/// complete, so a reader never sees half a file and a failure leaves nothing behind.
pub(crate) fn write_atomic<F>(path: &Path, write: F) -> Result<(), Failure>
where
    F: FnOnce(&mut BufWriter<&mut File>) -> Result<(), Failure>,
{
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".sluis-")
        .tempfile_in(dir)
        .map_err(|e| {
            Failure::env(anyhow::anyhow!(
                "creating a temporary file in {}: {e}",
                dir.display()
            ))
        })?;
    {
        let mut w = BufWriter::with_capacity(1 << 20, tmp.as_file_mut());
        write(&mut w)?;
        w.flush()
            .map_err(|e| Failure::env(anyhow::anyhow!("writing {}: {e}", path.display())))?;
    }
    tmp.persist(path).map_err(|e| {
        Failure::env(anyhow::anyhow!(
            "renaming into {}: {}",
            path.display(),
            e.error
        ))
    })?;
    Ok(())
}

/// Writes bytes atomically.
pub(crate) fn write_bytes(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    write_atomic(path, |w| w.write_all(bytes).map_err(Failure::from))
}

/// Writes a value as pretty JSON, atomically.
pub(crate) fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<(), Failure> {
    let text = serde_json::to_vec_pretty(value).map_err(|e| Failure::Internal(e.into()))?;
    write_bytes(path, &text)
}
