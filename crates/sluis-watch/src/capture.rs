//! Reading captures: pcap and pcapng files (through `pcap-parser`, in constant memory) and live
//! frames from a receive-only interface (`AF_PACKET`, see [`live`]).
//!
//! A capture is hostile input like any other: a file may be truncated, a block may claim any
//! length, a pcapng interface may declare any timestamp resolution. The reader keeps one buffer of
//! fixed size, turns every defect into a [`CaptureError`] that says where it is, and never panics.

use std::io::Read;
use std::path::Path;

use pcap_parser::pcapng::Block;
use pcap_parser::{Linktype, PcapBlockOwned, PcapError};

/// Microseconds since the Unix epoch: the one clock of the watch.
pub type Micros = i64;

/// The largest block the reader holds at once. A pcapng block larger than this (a packet with a
/// snap length above ~1 MiB) is refused with [`CaptureError::BlockTooLarge`], not buffered.
pub const MAX_BLOCK: usize = 1 << 20;

/// How the bytes of a frame begin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LinkType {
    /// Ethernet II (`LINKTYPE_ETHERNET`, 1).
    Ethernet,
    /// Linux cooked capture v1 (`LINKTYPE_LINUX_SLL`, 113).
    LinuxSll,
    /// A bare IPv4 or IPv6 packet (`LINKTYPE_RAW` 101, `IPV4` 228, `IPV6` 229).
    RawIp,
    /// Anything else: counted, not decoded.
    Other(i32),
}

impl LinkType {
    fn from_pcap(linktype: Linktype) -> Self {
        match linktype.0 {
            1 => Self::Ethernet,
            113 => Self::LinuxSll,
            101 | 228 | 229 => Self::RawIp,
            other => Self::Other(other),
        }
    }
}

/// One thing a capture says.
#[derive(Debug)]
#[non_exhaustive]
pub enum Record<'a> {
    /// A captured frame.
    Frame {
        /// When it was captured.
        ts: Micros,
        /// How its bytes begin.
        link: LinkType,
        /// The captured bytes (perhaps fewer than went over the wire).
        data: &'a [u8],
        /// Its length on the wire.
        orig_len: u32,
    },
    /// The capturing interface says it dropped this many frames in all so far
    /// (pcapng interface statistics, or the kernel's counters for a live capture).
    Drops {
        /// When the statistics were taken.
        ts: Micros,
        /// Frames dropped since the capture began.
        total: u64,
    },
}

/// What went wrong reading a capture; each says where.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaptureError {
    /// The file could not be opened or read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is neither pcap nor pcapng.
    #[error("{path}: not a pcap or pcapng file (unrecognised header)")]
    NotACapture {
        /// The file.
        path: String,
    },
    /// The file is empty.
    #[error("{path}: empty file")]
    Empty {
        /// The file.
        path: String,
    },
    /// The file ends in the middle of a block.
    #[error("{path}: truncated: the capture ends inside a block after {frames} frames")]
    Truncated {
        /// The file.
        path: String,
        /// Frames read before the cut.
        frames: u64,
    },
    /// A block is larger than [`MAX_BLOCK`].
    #[error("{path}: a block after {frames} frames is larger than {MAX_BLOCK} bytes")]
    BlockTooLarge {
        /// The file.
        path: String,
        /// Frames read before it.
        frames: u64,
    },
    /// A block does not parse.
    #[error("{path}: malformed block after {frames} frames: {detail}")]
    Malformed {
        /// The file.
        path: String,
        /// Frames read before it.
        frames: u64,
        /// What the parser said.
        detail: String,
    },
    /// A pcapng packet names an interface the file never described.
    #[error("{path}: packet after {frames} frames names interface {if_id}, which is not described")]
    UnknownInterface {
        /// The file.
        path: String,
        /// Frames read before it.
        frames: u64,
        /// The interface id.
        if_id: u32,
    },
}

/// What one interface of a pcapng section declared.
#[derive(Clone, Copy, Debug)]
struct Interface {
    link: LinkType,
    /// Timestamp units per second.
    resolution: u64,
    /// Seconds added to every timestamp.
    offset: i64,
}

/// Reads `path` from start to end, handing every record to `sink`. Returns the number of frames.
pub fn read_file(path: &Path, mut sink: impl FnMut(Record<'_>)) -> Result<u64, CaptureError> {
    let shown = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|source| CaptureError::Io {
        path: shown.clone(),
        source,
    })?;
    read_from(&shown, file, &mut sink)
}

/// Reads a capture from any reader (the file name is only for errors).
pub fn read_from<R: Read + Send>(
    name: &str,
    input: R,
    sink: &mut impl FnMut(Record<'_>),
) -> Result<u64, CaptureError> {
    let path = || name.to_string();
    let mut reader = match pcap_parser::create_reader(MAX_BLOCK, input) {
        Ok(reader) => reader,
        Err(PcapError::Eof) => return Err(CaptureError::Empty { path: path() }),
        Err(PcapError::Incomplete(_)) => {
            return Err(CaptureError::Truncated {
                path: path(),
                frames: 0,
            });
        }
        Err(PcapError::ReadError) => {
            return Err(CaptureError::Io {
                path: path(),
                source: std::io::Error::other("read failed"),
            });
        }
        Err(_) => return Err(CaptureError::NotACapture { path: path() }),
    };
    let mut frames: u64 = 0;
    let mut legacy: Option<(LinkType, bool)> = None;
    let mut interfaces: Vec<Interface> = Vec::new();
    loop {
        match reader.next() {
            Ok((offset, block)) => {
                match block {
                    PcapBlockOwned::LegacyHeader(header) => {
                        legacy = Some((
                            LinkType::from_pcap(header.network),
                            header.is_nanosecond_precision(),
                        ));
                    }
                    PcapBlockOwned::Legacy(b) => {
                        let (link, nanos) = legacy.unwrap_or((LinkType::Ethernet, false));
                        let frac = if nanos {
                            i64::from(b.ts_usec) / 1000
                        } else {
                            i64::from(b.ts_usec)
                        };
                        let ts = i64::from(b.ts_sec)
                            .saturating_mul(1_000_000)
                            .saturating_add(frac);
                        frames = frames.saturating_add(1);
                        sink(Record::Frame {
                            ts,
                            link,
                            data: b.data,
                            orig_len: b.origlen,
                        });
                    }
                    PcapBlockOwned::NG(Block::SectionHeader(_)) => interfaces.clear(),
                    PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                        // A hostile resolution (0, or 10^30) would break the arithmetic below:
                        // an undeclared or absurd one falls back to microseconds.
                        let resolution = idb
                            .ts_resolution()
                            .filter(|r| (1..=1_000_000_000_000).contains(r))
                            .unwrap_or(1_000_000);
                        interfaces.push(Interface {
                            link: LinkType::from_pcap(idb.linktype),
                            resolution,
                            offset: idb.ts_offset(),
                        });
                    }
                    PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                        let Some(iface) = usize::try_from(epb.if_id)
                            .ok()
                            .and_then(|i| interfaces.get(i))
                        else {
                            return Err(CaptureError::UnknownInterface {
                                path: path(),
                                frames,
                                if_id: epb.if_id,
                            });
                        };
                        let ts = ng_micros(iface, epb.ts_high, epb.ts_low);
                        frames = frames.saturating_add(1);
                        sink(Record::Frame {
                            ts,
                            link: iface.link,
                            data: epb.data,
                            orig_len: epb.origlen,
                        });
                    }
                    PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
                        let link = interfaces.first().map_or(LinkType::Ethernet, |i| i.link);
                        frames = frames.saturating_add(1);
                        // A simple packet block has no timestamp; it inherits none and says 0.
                        sink(Record::Frame {
                            ts: 0,
                            link,
                            data: spb.data,
                            orig_len: spb.origlen,
                        });
                    }
                    PcapBlockOwned::NG(Block::InterfaceStatistics(isb)) => {
                        let drops = isb
                            .isb_ifdrop()
                            .and_then(Result::ok)
                            .unwrap_or(0)
                            .saturating_add(isb.isb_osdrop().and_then(Result::ok).unwrap_or(0));
                        if let Some(iface) = usize::try_from(isb.if_id)
                            .ok()
                            .and_then(|i| interfaces.get(i))
                        {
                            sink(Record::Drops {
                                ts: ng_micros(iface, isb.ts_high, isb.ts_low),
                                total: drops,
                            });
                        }
                    }
                    PcapBlockOwned::NG(_) => {}
                }
                // No shift per block (the buffer shifts only its tail, at refill).
                reader.consume_noshift(offset);
            }
            Err(PcapError::Eof) => return Ok(frames),
            Err(PcapError::Incomplete(_)) => {
                if reader.reader_exhausted() && reader.data().is_empty() {
                    return Ok(frames);
                }
                if reader.reader_exhausted() {
                    return Err(CaptureError::Truncated {
                        path: path(),
                        frames,
                    });
                }
                let before = reader.data().len();
                reader.refill().map_err(|e| CaptureError::Malformed {
                    path: path(),
                    frames,
                    detail: truncate_detail(&e),
                })?;
                if reader.data().is_empty() && reader.reader_exhausted() {
                    return Ok(frames);
                }
                if reader.data().len() == before {
                    // No progress: the input ended inside a block, or the block does not fit.
                    return Err(if reader.reader_exhausted() {
                        CaptureError::Truncated {
                            path: path(),
                            frames,
                        }
                    } else {
                        CaptureError::BlockTooLarge {
                            path: path(),
                            frames,
                        }
                    });
                }
            }
            Err(PcapError::BufferTooSmall) => {
                return Err(CaptureError::BlockTooLarge {
                    path: path(),
                    frames,
                });
            }
            Err(PcapError::UnexpectedEof) => {
                return Err(CaptureError::Truncated {
                    path: path(),
                    frames,
                });
            }
            Err(other) => {
                return Err(CaptureError::Malformed {
                    path: path(),
                    frames,
                    detail: truncate_detail(&other),
                });
            }
        }
    }
}

fn truncate_detail<I>(e: &PcapError<I>) -> String {
    match e {
        PcapError::NomError(_, kind) | PcapError::OwnedNomError(_, kind) => {
            format!("{kind:?}")
        }
        PcapError::HeaderNotRecognized => "unrecognised block header".into(),
        PcapError::ReadError => "read error".into(),
        _ => "parse error".into(),
    }
}

/// A pcapng timestamp in microseconds, with checked arithmetic throughout.
fn ng_micros(iface: &Interface, high: u32, low: u32) -> Micros {
    let raw = (u128::from(high) << 32) | u128::from(low);
    let res = u128::from(iface.resolution.max(1));
    let secs = raw / res;
    let frac = raw % res;
    let micros = frac.saturating_mul(1_000_000) / res;
    let secs = i64::try_from(secs).unwrap_or(i64::MAX / 2_000_000);
    let micros = i64::try_from(micros).unwrap_or(0);
    secs.saturating_add(iface.offset)
        .saturating_mul(1_000_000)
        .saturating_add(micros)
}

/// Live capture from a receive-only interface with a Linux `AF_PACKET` socket.
pub mod live {
    use std::io::Read;
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use socket2::{Domain, Protocol, Socket, Type};

    use super::{LinkType, Micros, Record};

    /// `ETH_P_ALL`: every protocol.
    const ETH_P_ALL: u16 = 0x0003;

    /// A raw socket bound to one interface. It only receives: nothing is ever written to it.
    #[derive(Debug)]
    pub struct LiveCapture {
        socket: Socket,
        buf: Vec<u8>,
        interface: String,
    }

    impl LiveCapture {
        /// Opens `interface` for capture (needs `CAP_NET_RAW`). Frames arrive whole up to 64 KiB.
        pub fn open(interface: &str) -> std::io::Result<Self> {
            let proto = Protocol::from(i32::from(ETH_P_ALL.to_be()));
            let socket = Socket::new(Domain::PACKET, Type::RAW, Some(proto))?;
            socket.bind_device(Some(interface.as_bytes()))?;
            socket.set_recv_buffer_size(16 << 20)?;
            socket.set_read_timeout(Some(Duration::from_millis(200)))?;
            Ok(Self {
                socket,
                buf: vec![0; 65_536],
                interface: interface.to_string(),
            })
        }

        /// The interface's name.
        pub fn interface(&self) -> &str {
            &self.interface
        }

        /// Waits up to 200 ms for a frame; `Ok(false)` when none came.
        pub fn next(&mut self, sink: &mut impl FnMut(Record<'_>)) -> std::io::Result<bool> {
            let received = match (&self.socket).read(&mut self.buf) {
                Ok(n) => n,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock
                            | std::io::ErrorKind::TimedOut
                            | std::io::ErrorKind::Interrupted
                    ) =>
                {
                    return Ok(false);
                }
                Err(e) => return Err(e),
            };
            let data = self.buf.get(..received).unwrap_or_default();
            let ts: Micros = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
            sink(Record::Frame {
                ts,
                link: LinkType::Ethernet,
                data,
                orig_len: u32::try_from(received).unwrap_or(u32::MAX),
            });
            Ok(true)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ng_timestamps_use_the_declared_resolution() {
        let nanos = Interface {
            link: LinkType::Ethernet,
            resolution: 1_000_000_000,
            offset: 0,
        };
        let raw: u64 = 1_700_000_000_123_456_789;
        let ts = ng_micros(&nanos, (raw >> 32) as u32, raw as u32);
        assert_eq!(ts, 1_700_000_000_123_456);
        let hostile = Interface {
            link: LinkType::Ethernet,
            resolution: 1,
            offset: i64::MAX,
        };
        let _ = ng_micros(&hostile, u32::MAX, u32::MAX);
    }

    #[test]
    fn garbage_is_not_a_capture() {
        let mut n = 0;
        let err = read_from(
            "x",
            &b"this is not a capture at all, not even close"[..],
            &mut |_| n += 1,
        )
        .err();
        assert!(
            matches!(err, Some(CaptureError::NotACapture { .. })),
            "{err:?}"
        );
        let err = read_from("x", &b""[..], &mut |_| {}).err();
        assert!(matches!(err, Some(CaptureError::Empty { .. })), "{err:?}");
    }
}
