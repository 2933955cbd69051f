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

/// A copy of `scan` whose samples keep only their top `bits` (as 8-bit samples when `bits` is 8).
fn reduced(scan: &Scan, bits: u16) -> Scan {
    let mut s = scan.clone();
    s.image.bits_stored = bits;
    for c in &mut s.image.channels {
        let Samples::U16(v) = &c.samples else {
            unreachable!()
        };
        c.samples = if bits == 8 {
            Samples::U8(v.iter().map(|&x| (x >> 8) as u8).collect())
        } else {
            Samples::U16(v.iter().map(|&x| x >> (16 - bits)).collect())
        };
        c.rescale = None;
    }
    s
}

#[test]
fn lossless_jpeg_every_predictor_and_precision_against_dcmtk() {
    let dir = tempfile::tempdir().unwrap();
    let (_, original) = synthetic_file(dir.path(), 31);
    for bits in [8u16, 12, 16] {
        let scan = reduced(&original, bits);
        let path = dir.path().join(format!("b{bits}.dcs"));
        std::fs::write(
            &path,
            sluis_scan::to_dicos_vec(&sluis_scan::DicosObject::Image(Box::new(scan.clone())))
                .unwrap(),
        )
        .unwrap();
        for predictor in 1..=7 {
            let jpeg = dir.path().join(format!("b{bits}-sv{predictor}.dcm"));
            let sv = predictor.to_string();
            let out = dcmtk(
                "dcmcjpeg",
                &[
                    OsStr::new("+el"),
                    OsStr::new("+sv"),
                    OsStr::new(&sv),
                    path.as_os_str(),
                    jpeg.as_os_str(),
                ],
            );
            assert!(
                out.status.success(),
                "dcmcjpeg {bits} bits, predictor {predictor}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let (decoded, _) = sanitised_scan(&jpeg);
            assert_same_pixels(
                &scan,
                &decoded,
                &format!("{bits} bits, predictor {predictor}"),
            );
        }
    }
    // A point transform drops low bits: our decode must equal dcmtk's own decode.
    let scan = reduced(&original, 16);
    let path = dir.path().join("pt.dcs");
    std::fs::write(
        &path,
        sluis_scan::to_dicos_vec(&sluis_scan::DicosObject::Image(Box::new(scan))).unwrap(),
    )
    .unwrap();
    let jpeg = dir.path().join("pt.dcm");
    let raw = dir.path().join("pt-raw.dcm");
    assert!(
        dcmtk(
            "dcmcjpeg",
            &[
                OsStr::new("+el"),
                OsStr::new("+sv"),
                OsStr::new("1"),
                OsStr::new("+pt"),
                OsStr::new("3"),
                path.as_os_str(),
                jpeg.as_os_str()
            ]
        )
        .status
        .success()
    );
    assert!(
        dcmtk("dcmdjpeg", &[jpeg.as_os_str(), raw.as_os_str()])
            .status
            .success()
    );
    let (ours, _) = sanitised_scan(&jpeg);
    let (theirs, _) = sanitised_scan(&raw);
    assert_same_pixels(&theirs, &ours, "point transform 3");
}

#[test]
fn lossless_jpeg_matches_jpeg_decoder() {
    // jpeg-decoder (the decoder dicom-rs uses) as a second, independent oracle on every frame of
    // dcmtk's output.
    let dir = tempfile::tempdir().unwrap();
    let (path, original) = synthetic_file(dir.path(), 32);
    let jpeg = dir.path().join("j.dcm");
    assert!(
        dcmtk(
            "dcmcjpeg",
            &[
                OsStr::new("+el"),
                OsStr::new("+sv"),
                OsStr::new("4"),
                path.as_os_str(),
                jpeg.as_os_str()
            ]
        )
        .status
        .success()
    );
    let obj = dicom_object::open_file(&jpeg).unwrap();
    let pixel = obj.element(dicom_dictionary_std::tags::PIXEL_DATA).unwrap();
    let fragments = pixel.fragments().unwrap();
    assert_eq!(
        fragments.len(),
        original.image.channels.len(),
        "one fragment per frame"
    );
    for (fragment, channel) in fragments.iter().zip(&original.image.channels) {
        let mut decoder = jpeg_decoder::Decoder::new(fragment.as_slice());
        let bytes = decoder.decode().unwrap();
        let theirs: Vec<u16> = bytes
            .chunks_exact(2)
            .map(|c| u16::from_ne_bytes([c[0], c[1]]))
            .collect();
        let Samples::U16(ours) = &channel.samples else {
            unreachable!()
        };
        assert!(&theirs == ours, "{}: jpeg-decoder disagrees", channel.kind);
    }
}
