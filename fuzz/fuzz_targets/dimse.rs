//! Fuzzes the edge's DICOM parsers, the enclave's first contact with a scanner. The first
//! byte chooses: even, the command-set codec (what parses must answer and re-encode to the
//! same command); odd, the P-DATA state machine over the rest as an association's stream
//! after the handshake (no panic, no object past its limit, every kept object behind a PS3.10
//! head that names the command's UIDs).
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use sluis_edge::dimse::command::{parse_command, response, store_rq, C_STORE_RQ, C_STORE_RSP};
use sluis_edge::dimse::part10::file_meta;
use sluis_edge::dimse::pdata::{Bounds, Inbound, ReadWire, Step};

fn codec(bytes: &[u8]) {
    let Ok(c) = parse_command(bytes) else {
        return;
    };
    let r = parse_command(&response(C_STORE_RSP, &c, 0xA700)).expect("our response parses");
    assert_eq!(
        (r.field, r.status, &r.sop_class, &r.sop_instance, r.has_data),
        (C_STORE_RSP, 0xA700, &c.sop_class, &c.sop_instance, false)
    );
    let q = parse_command(&store_rq(c.message_id, &c.sop_class, &c.sop_instance))
        .expect("our request parses");
    assert_eq!(
        (q.field, q.message_id, &q.sop_class, &q.sop_instance, q.has_data),
        (C_STORE_RQ, c.message_id, &c.sop_class, &c.sop_instance, true)
    );
}

fn machine(limit: u8, stream: &[u8]) {
    let max_object = u64::from(limit) * 64;
    let mut m = Inbound::new(
        Bounds {
            max_pdu: 16 << 10,
            max_object_bytes: max_object,
            timeout: Duration::from_secs(1),
        },
        vec![
            (1, "1.2.840.10008.1.2.1\0".into()),
            (3, "1.2.840.10008.1.2".into()),
        ],
    );
    let mut wire = ReadWire(stream);
    for _ in 0..10_000 {
        match m.next(&mut wire) {
            Ok(Step::Store(s)) => {
                assert!(s.object.len() as u64 <= s.head as u64 + max_object);
                if s.too_large {
                    assert!(s.object.is_empty());
                } else if s.head > 0 {
                    let meta = file_meta(s.object).expect("our head reads back");
                    assert_eq!(meta.sop_class, s.command.sop_class);
                    assert_eq!(meta.sop_instance, s.command.sop_instance);
                    assert_eq!(meta.transfer_syntax, s.transfer_syntax);
                    assert_eq!(meta.data_start, s.head);
                }
            }
            Ok(Step::Echo { response, .. }) => {
                parse_command(&response).expect("our echo response parses");
            }
            Ok(Step::Release | Step::Aborted) | Err(_) => return,
        }
    }
}

fuzz_target!(|input: &[u8]| {
    let Some((&first, rest)) = input.split_first() else {
        return;
    };
    if first % 2 == 0 {
        codec(rest);
    } else {
        machine(first, rest);
    }
});
