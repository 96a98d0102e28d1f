//! `FrameBuf`: a read buffer that splits a byte stream into whole frames, shared by the server's
//! I/O thread and the client's reader threads.
//!
//! **Invariant:** `start <= end <= buf.len()`. The buffer only grows to hold a frame whose length
//! prefix has already been checked against the frame limit, and shrinks back once drained. It
//! allocates nothing until the first read, and [`FrameBuf::release`] gives the memory back while
//! no bytes are buffered, so an idle connection holds no read buffer.

use crate::protocol::{frame_len, DecodeError};

/// Size allocated at the first read (and shrunk back to after a large frame).
pub(crate) const FRAME_BUF_BYTES: usize = 64 * 1024;

#[derive(Debug)]
pub(crate) struct FrameBuf {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    frame_max_bytes: usize,
}

impl FrameBuf {
    pub(crate) fn new(frame_max_bytes: usize) -> Self {
        Self { buf: Vec::new(), start: 0, end: 0, frame_max_bytes }
    }

    /// Whether no bytes are buffered (no partial frame, no undispatched frame).
    pub(crate) fn is_drained(&self) -> bool {
        self.start == self.end
    }

    /// Bytes of memory the buffer holds.
    pub(crate) fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Frees the buffer if nothing is buffered; the next [`Self::spare`] allocates again.
    pub(crate) fn release(&mut self) {
        if self.is_drained() {
            self.buf = Vec::new();
            self.start = 0;
            self.end = 0;
        }
    }

    /// Free space to read into: compacts, or grows to fit the frame being received.
    pub(crate) fn spare(&mut self) -> Result<&mut [u8], DecodeError> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            if self.buf.len() > FRAME_BUF_BYTES {
                self.buf = vec![0; FRAME_BUF_BYTES];
            }
        }
        if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else {
                // Full with one incomplete frame (or not allocated yet): its checked length
                // says how much to grow.
                let needed = frame_len(&self.buf, self.frame_max_bytes)?.unwrap_or(0);
                assert!(needed <= self.frame_max_bytes, "grew past the checked frame limit");
                self.buf.resize(needed.max(self.buf.len() + 1).max(FRAME_BUF_BYTES), 0);
            }
        }
        assert!(self.start <= self.end && self.end < self.buf.len(), "no spare space");
        Ok(&mut self.buf[self.end..])
    }

    /// Records that `n` bytes were read into [`Self::spare`].
    pub(crate) fn filled(&mut self, n: usize) {
        assert!(n <= self.buf.len() - self.end, "filled {n} bytes past the spare space");
        self.end += n;
    }

    /// The next whole frame (prefix included), consumed from the buffer.
    pub(crate) fn next_frame(&mut self) -> Result<Option<&[u8]>, DecodeError> {
        let available = &self.buf[self.start..self.end];
        let Some(len) = frame_len(available, self.frame_max_bytes)? else { return Ok(None) };
        if available.len() < len {
            return Ok(None);
        }
        assert!(len >= 8, "frame_len accepts no frame shorter than its fixed words");
        let frame_start = self.start;
        self.start += len;
        assert!(self.start <= self.end, "consumed past the filled bytes");
        Ok(Some(&self.buf[frame_start..frame_start + len]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(fb: &mut FrameBuf, mut bytes: &[u8], chunk: usize) -> Vec<Vec<u8>> {
        let mut frames = Vec::new();
        while !bytes.is_empty() {
            let spare = fb.spare().unwrap();
            let n = spare.len().min(chunk).min(bytes.len());
            spare[..n].copy_from_slice(&bytes[..n]);
            fb.filled(n);
            bytes = &bytes[n..];
            while let Some(f) = fb.next_frame().unwrap() {
                frames.push(f.to_vec());
            }
        }
        frames
    }

    fn frame(body_len: usize) -> Vec<u8> {
        let mut f = u32::try_from(body_len + 4).unwrap().to_be_bytes().to_vec();
        f.extend_from_slice(&[0, 0, 0, 0]);
        f.extend(std::iter::repeat_n(7u8, body_len));
        f
    }

    #[test]
    fn splits_frames_across_any_chunking_and_grows_for_big_ones() {
        let mut stream = Vec::new();
        let sizes = [0, 10, 200_000, 3, 70_000, 1];
        for s in sizes {
            stream.extend(frame(s));
        }
        for chunk in [1, 7, 4096, 1 << 20] {
            let mut fb = FrameBuf::new(1 << 20);
            let frames = feed(&mut fb, &stream, chunk);
            let lens: Vec<usize> = frames.iter().map(|f| f.len() - 8).collect();
            assert_eq!(lens, sizes, "chunk {chunk}");
        }
    }

    #[test]
    fn oversize_frame_is_refused_before_growing() {
        let mut fb = FrameBuf::new(1000);
        let spare = fb.spare().unwrap();
        spare[..4].copy_from_slice(&2000u32.to_be_bytes());
        fb.filled(4);
        assert!(matches!(fb.next_frame(), Err(DecodeError::FrameTooLarge { .. })));
    }

    #[test]
    fn allocates_at_the_first_read_and_releases_only_when_drained() {
        let mut fb = FrameBuf::new(1 << 20);
        assert_eq!(fb.capacity(), 0, "nothing allocated before the first read");
        let whole = frame(10);
        assert_eq!(feed(&mut fb, &whole[..5], 5).len(), 0);
        assert!(fb.capacity() >= FRAME_BUF_BYTES);
        fb.release();
        assert!(fb.capacity() > 0 && !fb.is_drained(), "a partial frame is kept");
        assert_eq!(feed(&mut fb, &whole[5..], 100).len(), 1);
        assert!(fb.is_drained());
        fb.release();
        assert_eq!(fb.capacity(), 0);
        assert_eq!(feed(&mut fb, &frame(3), 100).len(), 1, "usable again after a release");
    }

    /// Feeds `bytes` in chunks of the given sizes (cycled); stops at the first error.
    fn feed_chunks(fb: &mut FrameBuf, mut bytes: &[u8], chunks: &[usize]) -> Vec<Vec<u8>> {
        let mut frames = Vec::new();
        for &chunk in chunks.iter().cycle() {
            if bytes.is_empty() {
                break;
            }
            let Ok(spare) = fb.spare() else { break };
            let n = spare.len().min(chunk).min(bytes.len());
            spare[..n].copy_from_slice(&bytes[..n]);
            fb.filled(n);
            bytes = &bytes[n..];
            loop {
                match fb.next_frame() {
                    Ok(Some(f)) => frames.push(f.to_vec()),
                    Ok(None) => break,
                    Err(_) => return frames,
                }
            }
        }
        frames
    }

    proptest::proptest! {
        #[test]
        fn any_chunking_yields_exactly_the_frames(
            sizes in proptest::collection::vec(0usize..3000, 0..12),
            chunks in proptest::collection::vec(1usize..5000, 1..8),
        ) {
            let stream: Vec<u8> = sizes.iter().flat_map(|&s| frame(s)).collect();
            let mut fb = FrameBuf::new(1 << 20);
            let lens: Vec<usize> =
                feed_chunks(&mut fb, &stream, &chunks).iter().map(|f| f.len() - 8).collect();
            proptest::prop_assert_eq!(lens, sizes);
        }

        #[test]
        fn random_bytes_never_panic_and_frames_respect_the_limit(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2000),
            chunks in proptest::collection::vec(1usize..700, 1..8),
            max in 8usize..1500,
        ) {
            let mut fb = FrameBuf::new(max);
            for f in feed_chunks(&mut fb, &bytes, &chunks) {
                proptest::prop_assert!((8..=max).contains(&f.len()));
            }
        }
    }
}
