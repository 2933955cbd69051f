//! Fuzzes `inspect`: no panic, and the report always serialises.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluis_scan::{inspect, Limits};

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_file_bytes: 16 << 20,
        max_inflated_bytes: 16 << 20,
        max_pixels: 4 << 20,
        max_memory_bytes: 64 << 20,
        ..Limits::default()
    };
    let inspection = inspect(data, &limits);
    let _ = inspection.to_text();
    serde_json::to_string(&inspection).expect("an inspection always serialises");
});
