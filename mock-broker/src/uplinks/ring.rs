//! The bytes of the kept uplinks (topic, then payload, of each) in one ring buffer, so that
//! recording an uplink copies its bytes once and allocates nothing, and letting one go frees
//! nothing: the buffer grows (doubling, up to its limit) and is then reused.
//!
//! Bytes are addressed by their position in the stream of every byte ever pushed; the ring
//! holds the positions `base .. base + len`.

/// The least the buffer grows to at first.
const FIRST_CAPACITY: usize = 4096;

#[derive(Debug, Default)]
pub(super) struct ByteRing {
    buf: Vec<u8>,
    /// The index in `buf` of the oldest byte held.
    head: usize,
    /// How many bytes are held.
    len: usize,
    /// The stream position of the oldest byte held.
    base: u64,
}

impl ByteRing {
    /// How many bytes are held.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Appends `parts` one after the other, growing the buffer to hold them (to at least
    /// `len + their length`, at most `max` unless that is less); returns the stream position
    /// of their first byte.
    pub(super) fn push(&mut self, parts: [&[u8]; 2], max: usize) -> u64 {
        let n = parts[0].len() + parts[1].len();
        let needed = self.len + n;
        if needed > self.buf.len() {
            self.grow(needed.max(self.buf.len() * 2).max(FIRST_CAPACITY).min(max).max(needed));
        }
        let position = self.base + self.len as u64;
        let mut at = self.index(self.len);
        for part in parts {
            at = self.write_at(at, part);
        }
        self.len = needed;
        position
    }

    /// Lets go of the `n` oldest bytes.
    pub(super) fn pop(&mut self, n: usize) {
        let n = n.min(self.len);
        self.len -= n;
        self.base += n as u64;
        self.head = if self.len == 0 { 0 } else { (self.head + n) % self.buf.len() };
    }

    /// The `len` bytes held from stream position `position`.
    pub(super) fn copy_out(&self, position: u64, len: usize) -> Vec<u8> {
        let offset = usize::try_from(position - self.base).expect("a position held");
        debug_assert!(offset + len <= self.len, "the bytes asked for are held");
        let start = self.index(offset);
        let first = len.min(self.buf.len() - start);
        let mut out = Vec::with_capacity(len);
        out.extend_from_slice(&self.buf[start..start + first]);
        out.extend_from_slice(&self.buf[..len - first]);
        out
    }

    /// The index in `buf` of the byte `offset` bytes after the oldest.
    fn index(&self, offset: usize) -> usize {
        match self.buf.len() {
            0 => 0,
            cap => (self.head + offset) % cap,
        }
    }

    /// Writes `bytes` from index `at`, wrapping; returns the index after them.
    fn write_at(&mut self, at: usize, bytes: &[u8]) -> usize {
        let cap = self.buf.len();
        let first = bytes.len().min(cap - at);
        self.buf[at..at + first].copy_from_slice(&bytes[..first]);
        self.buf[..bytes.len() - first].copy_from_slice(&bytes[first..]);
        if bytes.len() - first > 0 { bytes.len() - first } else { (at + first) % cap.max(1) }
    }

    /// Moves the held bytes, oldest first, into a buffer of `capacity` bytes.
    fn grow(&mut self, capacity: usize) {
        let held = if self.len == 0 { Vec::new() } else { self.copy_out(self.base, self.len) };
        let mut buf = vec![0; capacity];
        buf[..held.len()].copy_from_slice(&held);
        self.buf = buf;
        self.head = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::VecDeque;

    /// One step: push a topic and a payload of these lengths, or pop this many bytes.
    #[derive(Clone, Debug)]
    enum Step {
        Push(usize, usize),
        Pop(usize),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![(0..40usize, 0..300usize).prop_map(|(t, p)| Step::Push(t, p)), (0..400usize).prop_map(Step::Pop)]
    }

    proptest! {
        /// Against a plain queue of bytes: every push, pop and wrap keeps the same bytes at
        /// the same stream positions, and the buffer never grows past its limit while what
        /// it holds fits in it.
        #[test]
        fn the_ring_holds_what_a_queue_holds(steps in proptest::collection::vec(step(), 1..200)) {
            const MAX: usize = 1024;
            let mut ring = ByteRing::default();
            let mut model: VecDeque<u8> = VecDeque::new();
            let mut next = 0u8;
            let mut pushed: Vec<(u64, Vec<u8>)> = Vec::new();
            for step in steps {
                match step {
                    Step::Push(t, p) => {
                        let mut bytes: Vec<u8> = (0..t + p).map(|_| { next = next.wrapping_add(1); next }).collect();
                        while model.len() + bytes.len() > MAX && !model.is_empty() {
                            model.pop_front();
                            ring.pop(1);
                        }
                        if bytes.len() > MAX {
                            bytes.truncate(MAX);
                        }
                        let (topic, payload) = bytes.split_at(t.min(bytes.len()));
                        let at = ring.push([topic, payload], MAX);
                        prop_assert_eq!(at, ring.base + (ring.len() - bytes.len()) as u64);
                        model.extend(&bytes);
                        pushed.push((at, bytes));
                    }
                    Step::Pop(n) => {
                        let n = n.min(model.len());
                        model.drain(..n);
                        ring.pop(n);
                    }
                }
                prop_assert_eq!(ring.len(), model.len());
                prop_assert!(ring.buf.len() <= MAX, "grew to {}", ring.buf.len());
                prop_assert_eq!(ring.copy_out(ring.base, ring.len()), model.iter().copied().collect::<Vec<_>>());
                for (at, bytes) in pushed.iter().filter(|(at, b)| *at >= ring.base && *at + b.len() as u64 <= ring.base + ring.len() as u64) {
                    prop_assert_eq!(&ring.copy_out(*at, bytes.len()), bytes);
                }
            }
        }
    }
}
