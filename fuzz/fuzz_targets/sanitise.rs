//! Fuzzes the sanitiser with three oracles: no panic; a fixed point (whatever is accepted must
//! encode, and its canonical encoding must sanitise to the same bytes again); and agreement
//! (the streaming sanitiser gives the same bytes, or the same refusal, as the in-memory one).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluis_scan::{Limits, StreamError, sanitise, sanitise_stream};

/// Small limits so that the fuzzer explores structure rather than allocation: the memory cap
/// passed to libFuzzer (-malloc_limit_mb) is the other half of the oracle.
fn limits() -> Limits {
    Limits {
        max_file_bytes: 16 << 20,
        max_inflated_bytes: 16 << 20,
        max_rows: 4096,
        max_columns: 4096,
        max_frames: 64,
        max_pixels: 4 << 20,
        max_depth: 12,
        max_elements: 20_000,
        max_fragments: 1024,
        max_memory_bytes: 64 << 20,
    }
}

fuzz_target!(|data: &[u8]| {
    let limits = limits();
    let in_memory = sanitise(data, &limits);
    let mut streamed = Vec::new();
    match (&in_memory, sanitise_stream(std::io::Cursor::new(data), &mut streamed, &limits)) {
        (Ok(s), Ok(_)) => assert!(s.scan.to_dicos_vec().expect("encode") == streamed, "streamed output differs"),
        (Err(a), Err(StreamError::Refused(b))) => assert_eq!(a.rule, b.rule, "different refusals"),
        (a, b) => panic!("in memory {:?}, streamed {:?}", a.as_ref().map(|_| ()), b.map(|_| ())),
    }
    if let Ok(first) = in_memory {
        let encoded = first.scan.to_dicos_vec().expect("accepted input must encode");
        let second = sanitise(&encoded, &limits).expect("canonical output must be accepted");
        assert_eq!(first.scan.object(), second.scan.object(), "the model must survive a round trip");
        assert!(second.report.dropped.is_empty(), "canonical output drops nothing: {:?}", second.report.dropped);
        let again = second.scan.to_dicos_vec().expect("encode twice");
        assert_eq!(encoded, again, "canonical encoding must be a fixed point");
    }
});
