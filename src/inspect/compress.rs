//! Compression of archives and layers: gzip (any number of members), zstd (any number of
//! frames, skippable ones skipped) or none, told apart by their first bytes.

use std::io::{self, BufRead, Read};

use flate2::read::MultiGzDecoder;

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];
/// Magic of zstd skippable frames, `0x184D2A5?`.
const ZSTD_SKIPPABLE: u32 = 0x184d_2a50;

/// Whether the first bytes of a file look like a tar archive, compressed or not.
pub(super) fn looks_like_archive(head: &[u8]) -> bool {
    head.starts_with(GZIP_MAGIC)
        || head.starts_with(ZSTD_MAGIC)
        || head.get(257..262) == Some(b"ustar".as_slice())
}

/// Wraps `reader` in the decompressor its first bytes call for.
pub(super) fn decompress<'a, R: BufRead + 'a>(mut reader: R) -> io::Result<Box<dyn Read + 'a>> {
    let head = reader.fill_buf()?;
    if head.starts_with(GZIP_MAGIC) {
        Ok(Box::new(MultiGzDecoder::new(reader)))
    } else if head.starts_with(ZSTD_MAGIC) {
        Ok(Box::new(ZstdFrames::new(reader)))
    } else {
        Ok(Box::new(reader))
    }
}

/// A reader over a sequence of zstd frames (zstd layers may hold several), skipping
/// skippable frames.
pub(super) struct ZstdFrames<R: BufRead> {
    state: ZstdState<R>,
}

enum ZstdState<R: BufRead> {
    Between(R),
    InFrame(ruzstd::decoding::StreamingDecoder<R, ruzstd::decoding::FrameDecoder>),
    Done,
}

impl<R: BufRead> ZstdFrames<R> {
    pub fn new(reader: R) -> Self {
        ZstdFrames {
            state: ZstdState::Between(reader),
        }
    }
}

impl<R: BufRead> Read for ZstdFrames<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match std::mem::replace(&mut self.state, ZstdState::Done) {
                ZstdState::Done => return Ok(0),
                ZstdState::InFrame(mut decoder) => {
                    let n = decoder.read(buf)?;
                    if n > 0 || buf.is_empty() {
                        self.state = ZstdState::InFrame(decoder);
                        return Ok(n);
                    }
                    self.state = ZstdState::Between(decoder.into_inner());
                }
                ZstdState::Between(mut reader) => {
                    let head = reader.fill_buf()?;
                    if head.is_empty() {
                        return Ok(0);
                    }
                    let magic = head
                        .get(..4)
                        .map(|m| u32::from_le_bytes([m[0], m[1], m[2], m[3]]));
                    if magic.is_some_and(|m| m & 0xffff_fff0 == ZSTD_SKIPPABLE) {
                        let mut header = [0u8; 8];
                        reader.read_exact(&mut header)?;
                        let length =
                            u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
                        io::copy(&mut (&mut reader).take(length.into()), &mut io::sink())?;
                        self.state = ZstdState::Between(reader);
                        continue;
                    }
                    let decoder = ruzstd::decoding::StreamingDecoder::new(reader)
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
                    self.state = ZstdState::InFrame(decoder);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffing() {
        assert!(looks_like_archive(&[0x1f, 0x8b, 8]));
        assert!(looks_like_archive(&[0x28, 0xb5, 0x2f, 0xfd]));
        let mut ustar = vec![0u8; 512];
        ustar[257..262].copy_from_slice(b"ustar");
        assert!(looks_like_archive(&ustar));
        assert!(!looks_like_archive(b"hello world"));
    }
}
