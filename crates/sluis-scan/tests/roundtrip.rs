//! Round trips: synthetic scans written, converted by dcmtk into every accepted transfer syntax,
//! sanitised, and checked pixel for pixel; canonical output read by dicom-rs and by dcmtk.

use std::ffi::OsStr;
use std::path::Path;

use sluis_scan::model::Samples;
use sluis_scan::{Limits, Scan, sanitise};

use crate::common::{dcmtk, sample_files, synthetic_file};

fn sanitised_scan(path: &Path) -> (Scan, Vec<u8>) {
    let bytes = std::fs::read(path).unwrap();
    let s =
        sanitise(&bytes, &Limits::default()).unwrap_or_else(|r| panic!("{}: {r}", path.display()));
    let out = s.scan.to_dicos_vec().unwrap();
    (s.scan.image().unwrap().clone(), out)
}

fn assert_same_pixels(a: &Scan, b: &Scan, what: &str) {
    assert_eq!(
        a.image.channels.len(),
        b.image.channels.len(),
        "{what}: channel count"
    );
    for (x, y) in a.image.channels.iter().zip(&b.image.channels) {
        assert_eq!(x.kind, y.kind, "{what}: channel kind");
        assert!(x.samples == y.samples, "{what}: {} pixels differ", x.kind);
    }
}

#[test]
fn dcmtk_reads_canonical_output_without_error() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = synthetic_file(dir.path(), 11);
    let (_, canonical) = sanitised_scan(&path);
    let out_path = dir.path().join("canonical.dcs");
    std::fs::write(&out_path, &canonical).unwrap();
    for file in [&path, &out_path] {
        // Default dcmdump: stops on damage (-E), prints warnings and errors to stderr.
        let out = dcmtk("dcmdump", &[file.as_os_str()]);

        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "dcmdump failed on {}: {stderr}",
            file.display()
        );
        assert!(
            !stderr.contains("E:") && !stderr.contains("W:"),
            "dcmdump complains about {}: {stderr}",
            file.display()
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("MULTI ENERGY"), "{stdout}");
        assert!(stdout.contains("Z_EFFECTIVE"), "{stdout}");
    }
}

#[test]
fn every_transfer_syntax_from_dcmtk_gives_the_same_canonical_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let (path, original) = synthetic_file(dir.path(), 12);
    let (direct, canonical) = sanitised_scan(&path);
    assert_same_pixels(&original, &direct, "direct");
    let conversions: [(&str, &[&str], &str); 6] = [
        ("dcmconv", &["+ti"], "implicit VR little endian"),
        ("dcmconv", &["+tb"], "explicit VR big endian"),
        ("dcmconv", &["+td"], "deflated"),
        ("dcmcrle", &[], "RLE lossless"),
        ("dcmcjpeg", &["+e1"], "JPEG lossless SV1"),
        (
            "dcmcjpeg",
            &["+el", "+sv", "7"],
            "JPEG lossless process 14, predictor 7",
        ),
    ];
    for (i, (tool, args, what)) in conversions.iter().enumerate() {
        let converted = dir.path().join(format!("converted-{i}.dcm"));
        let mut argv: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
        argv.push(path.as_os_str());
        argv.push(converted.as_os_str());
        let out = dcmtk(tool, &argv);
        assert!(
            out.status.success(),
            "{tool} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let (scan, bytes) = sanitised_scan(&converted);
        assert_same_pixels(&original, &scan, what);
        assert!(
            bytes == canonical,
            "{what}: canonical output differs from the direct one"
        );
    }
}

#[test]
fn dicom_rs_reads_canonical_pixels_bit_exact() {
    let dir = tempfile::tempdir().unwrap();
    let (path, original) = synthetic_file(dir.path(), 13);
    let (_, canonical) = sanitised_scan(&path);
    let out_path = dir.path().join("canonical.dcs");
    std::fs::write(&out_path, &canonical).unwrap();
    let obj = dicom_object::open_file(&out_path).unwrap();
    let pixels = obj
        .element(dicom_dictionary_std::tags::PIXEL_DATA)
        .unwrap()
        .to_bytes()
        .unwrap();
    let mut expected = Vec::new();
    for c in &original.image.channels {
        match &c.samples {
            Samples::U16(v) => expected.extend(v.iter().flat_map(|x| x.to_le_bytes())),
            Samples::U8(v) => expected.extend_from_slice(v),
        }
    }
    assert!(
        pixels.as_ref() == expected.as_slice(),
        "dicom-rs sees different pixel bytes"
    );
    let frames: u32 = obj
        .element(dicom_dictionary_std::tags::NUMBER_OF_FRAMES)
        .unwrap()
        .to_int()
        .unwrap();
    assert_eq!(frames, 3);
}

#[test]
fn jpeg_samples_decode_as_dcmtk_decodes_them() {
    let dir = tempfile::tempdir().unwrap();
    for sample in sample_files() {
        let name = sample.file_name().unwrap().to_string_lossy().to_string();
        let bytes = std::fs::read(&sample).unwrap();
        let Ok(s) = sanitise(&bytes, &Limits::default()) else {
            panic!("{name}")
        };
        let Some(ours) = s.scan.image() else { continue };
        let decompressed = dir.path().join(format!("{name}.raw.dcm"));
        let out = dcmtk("dcmdjpeg", &[sample.as_os_str(), decompressed.as_os_str()]);
        assert!(
            out.status.success(),
            "dcmdjpeg {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let (theirs, _) = sanitised_scan(&decompressed);
        assert_same_pixels(ours, &theirs, &name);
    }
}
