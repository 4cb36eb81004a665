//! `IntSet`: a sorted set of integers in one allocation, every member stored with the
//! narrowest width (2, 4 or 8 bytes) that fits all of them. Adding a member that needs a wider
//! width rewrites the buffer in place, from the back, at the wider width (Redis's intset idea;
//! widths never shrink back). Lookups are binary searches; inserts and removals move the tail.

/// A sorted integer set (see the module docs).
#[derive(Clone)]
pub struct IntSet {
    /// `len` members, each `width` bytes, little endian, ascending.
    data: Vec<u8>,
    /// Bytes per member: 2, 4 or 8.
    width: u8,
}

/// The narrowest width in bytes that holds `v`.
fn width_of(v: i64) -> u8 {
    if v >= i64::from(i16::MIN) && v <= i64::from(i16::MAX) {
        2
    } else if v >= i64::from(i32::MIN) && v <= i64::from(i32::MAX) {
        4
    } else {
        8
    }
}

fn read(bytes: &[u8], width: u8) -> i64 {
    match width {
        2 => i64::from(i16::from_le_bytes([bytes[0], bytes[1]])),
        4 => i64::from(i32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])),
        _ => {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[..8]);
            i64::from_le_bytes(b)
        }
    }
}

fn write(bytes: &mut [u8], width: u8, v: i64) {
    match width {
        2 => bytes[..2].copy_from_slice(&(v as i16).to_le_bytes()),
        4 => bytes[..4].copy_from_slice(&(v as i32).to_le_bytes()),
        _ => bytes[..8].copy_from_slice(&v.to_le_bytes()),
    }
}

impl IntSet {
    pub fn new() -> IntSet {
        IntSet {
            data: Vec::new(),
            width: 2,
        }
    }

    /// Members, O(1).
    pub fn len(&self) -> usize {
        self.data.len() / self.width as usize
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Bytes per member now (2, 4 or 8).
    pub fn width(&self) -> usize {
        self.width as usize
    }

    /// Bytes allocated on the heap (the buffer's capacity), O(1).
    pub fn heap_bytes(&self) -> usize {
        self.data.capacity()
    }

    /// The member at sorted position `i` (panics past the end).
    pub fn get(&self, i: usize) -> i64 {
        let w = self.width as usize;
        read(&self.data[i * w..], self.width)
    }

    /// Binary search: Ok(position) of `v`, or Err(position it would be inserted at).
    fn search(&self, v: i64) -> Result<usize, usize> {
        if width_of(v) > self.width {
            // Outside this width's range: before every member when negative, after when not.
            return Err(if v < 0 { 0 } else { self.len() });
        }
        let (mut lo, mut hi) = (0usize, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let m = self.get(mid);
            match m.cmp(&v) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Ok(mid),
            }
        }
        Err(lo)
    }

    pub fn contains(&self, v: i64) -> bool {
        self.search(v).is_ok()
    }

    /// Rewrites every member at `width` (wider than now), in place from the back, leaving
    /// room for one more member.
    fn upgrade(&mut self, width: u8) {
        let n = self.len();
        let (old, new) = (self.width as usize, width as usize);
        self.data.resize(n * new, 0);
        // Back to front: member i moves from i*old to i*new >= i*old, so members not yet
        // moved (below i) are never overwritten.
        for i in (0..n).rev() {
            let v = read(&self.data[i * old..], self.width);
            write(&mut self.data[i * new..], width, v);
        }
        self.width = width;
    }

    /// Adds `v`; false when it was already a member.
    pub fn insert(&mut self, v: i64) -> bool {
        let need = width_of(v);
        if need > self.width {
            let at = if v < 0 { 0 } else { self.len() };
            self.upgrade(need);
            self.insert_at(at, v);
            return true;
        }
        match self.search(v) {
            Ok(_) => false,
            Err(at) => {
                self.insert_at(at, v);
                true
            }
        }
    }

    fn insert_at(&mut self, at: usize, v: i64) {
        let w = self.width as usize;
        let old_len = self.data.len();
        self.data.resize(old_len + w, 0);
        self.data.copy_within(at * w..old_len, at * w + w);
        write(&mut self.data[at * w..], self.width, v);
    }

    /// Removes `v`; false when it was not a member.
    pub fn remove(&mut self, v: i64) -> bool {
        match self.search(v) {
            Ok(at) => {
                self.remove_at(at);
                true
            }
            Err(_) => false,
        }
    }

    /// Removes and returns the member at sorted position `at` (panics past the end).
    pub fn remove_at(&mut self, at: usize) -> i64 {
        let v = self.get(at);
        let w = self.width as usize;
        self.data.copy_within(at * w + w.., at * w);
        self.data.truncate(self.data.len() - w);
        v
    }

    /// Frees spare capacity (after a bulk build or many removals).
    pub fn shrink_to_fit(&mut self) {
        self.data.shrink_to_fit();
    }

    /// Members in ascending order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = i64> + ExactSizeIterator + '_ {
        let w = self.width;
        self.data.chunks_exact(w as usize).map(move |c| read(c, w))
    }
}

impl Default for IntSet {
    fn default() -> IntSet {
        IntSet::new()
    }
}

impl std::fmt::Debug for IntSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    #[test]
    fn widths_upgrade_in_place() {
        let mut s = IntSet::new();
        assert!(s.insert(5));
        assert!(s.insert(-3));
        assert_eq!(s.width(), 2);
        assert!(s.insert(70_000));
        assert_eq!(s.width(), 4);
        assert!(s.insert(i64::MIN));
        assert_eq!(s.width(), 8);
        assert!(!s.insert(5));
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![i64::MIN, -3, 5, 70_000]);
        assert!(s.remove(i64::MIN));
        assert_eq!(s.width(), 8, "widths never shrink");
        assert!(!s.contains(i64::MIN));
        assert!(!s.contains(i64::MAX));
        assert!(s.contains(70_000));
    }

    fn value() -> impl Strategy<Value = i64> {
        prop_oneof![
            -40i64..40,
            any::<i16>().prop_map(i64::from),
            any::<i32>().prop_map(i64::from),
            any::<i64>(),
            Just(i64::MIN),
            Just(i64::MAX),
        ]
    }

    proptest! {
        #[test]
        fn matches_btreeset(ops in proptest::collection::vec((0u8..3, value()), 0..300)) {
            let mut s = IntSet::new();
            let mut model = BTreeSet::new();
            for (op, v) in ops {
                match op {
                    0 => prop_assert_eq!(s.insert(v), model.insert(v)),
                    1 => prop_assert_eq!(s.remove(v), model.remove(&v)),
                    _ => prop_assert_eq!(s.contains(v), model.contains(&v)),
                }
                prop_assert_eq!(s.len(), model.len());
                prop_assert!(s.heap_bytes() >= s.len() * s.width());
            }
            let want: Vec<i64> = model.iter().copied().collect();
            prop_assert_eq!(s.iter().collect::<Vec<_>>(), want.clone());
            prop_assert_eq!(s.iter().rev().collect::<Vec<_>>(), want.iter().rev().copied().collect::<Vec<_>>());
            let fits = want.iter().map(|&v| width_of(v)).max().unwrap_or(2) as usize;
            prop_assert!(s.width() >= fits);
            for (i, v) in want.iter().enumerate() {
                prop_assert_eq!(s.get(i), *v);
            }
            if !want.is_empty() {
                let at = want.len() / 2;
                prop_assert_eq!(s.remove_at(at), want[at]);
                prop_assert!(!s.contains(want[at]));
            }
        }
    }
}
