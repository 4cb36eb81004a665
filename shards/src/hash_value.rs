//! The hash value (ObjType::Hash): field, value pairs in a [`Listpack`] while small (Redis's
//! `listpack` encoding), a [`StringMap`] once it holds more than `hash-max-listpack-entries`
//! fields or a field or value longer than `hash-max-listpack-value` bytes (`hashtable`).
//! Conversion happens on the write that crosses a threshold and never goes back, as in Redis.

use std::any::Any;
use std::mem::ManuallyDrop;
use std::ptr::{self, NonNull};

use crate::cell::{ObjType, TypedObject};
use crate::dense::StringMap;
use crate::limits::CollectionLimits;
use crate::listpack::{Listpack, LpIter, LpPos, LpValue};

#[derive(Clone)]
enum Enc {
    /// Fields at even positions, each followed by its value.
    Packed(Packed),
    /// Boxed so that the small encoding, by far the most common, keeps the value small.
    Table(Box<StringMap>),
}

/// A listpack kept in 16 bytes between operations: its buffer, of exactly `len` bytes (a
/// `Box<[u8]>`'s allocation), and its entry count. Reads run on a borrowed [`Listpack`] view
/// of the buffer, writes on a Listpack that takes the buffer over and hands it back. Against
/// a plain 32-byte `Listpack` this saves a 16-byte step of the allocator per hash (millions
/// of small hashes) and the listpack's growth slack.
struct Packed {
    ptr: NonNull<u8>,
    len: u32,
    count: u32,
}

// SAFETY: `Packed` owns its buffer exclusively (like the `Box<[u8]>` it was made from) and has
// no interior mutability.
unsafe impl Send for Packed {}
// SAFETY: see `Send`; `&Packed` only reads the buffer.
unsafe impl Sync for Packed {}

impl Packed {
    fn empty() -> Packed {
        Packed {
            ptr: NonNull::dangling(),
            len: 0,
            count: 0,
        }
    }

    fn from_listpack(lp: Listpack) -> Packed {
        let (buf, count) = lp.into_raw();
        let buf = buf.into_boxed_slice();
        let len = u32::try_from(buf.len()).expect("listpack under 4 GiB");
        let raw = Box::into_raw(buf) as *mut u8;
        Packed {
            // SAFETY: `Box::into_raw` never returns null (dangling for an empty slice).
            ptr: unsafe { NonNull::new_unchecked(raw) },
            len,
            count: count as u32,
        }
    }

    /// The buffer as the Vec it was made from: the caller either gives it back unchanged
    /// (never dropping it) or takes ownership after forgetting `self`'s copy of the pointer.
    fn as_vec(&self) -> Vec<u8> {
        let len = self.len as usize;
        // SAFETY: `ptr` and `len` come from a `Box<[u8]>` of `len` bytes, which is a valid
        // `Vec` of length and capacity `len` from the same allocator.
        unsafe { Vec::from_raw_parts(self.ptr.as_ptr(), len, len) }
    }

    /// A read-only view; never dropped, so the buffer stays `self`'s.
    fn view(&self) -> ManuallyDrop<Listpack> {
        ManuallyDrop::new(Listpack::from_raw(self.as_vec(), self.count as usize))
    }

    /// Runs a write on the listpack, then stores its buffer back at its exact size.
    fn modify<R>(&mut self, f: impl FnOnce(&mut Listpack) -> R) -> R {
        let mut lp = Listpack::from_raw(self.as_vec(), self.count as usize);
        // The buffer now belongs to `lp`: forget it here without freeing (a panic in `f`
        // then frees it once, through `lp`).
        // SAFETY: overwrites without dropping; the old pointer is owned by `lp`.
        unsafe { ptr::write(self, Packed::empty()) };
        let out = f(&mut lp);
        *self = Packed::from_listpack(lp);
        out
    }

    fn heap_bytes(&self) -> usize {
        self.len as usize
    }
}

impl Drop for Packed {
    fn drop(&mut self) {
        drop(self.as_vec());
    }
}

impl Clone for Packed {
    fn clone(&self) -> Packed {
        let view = self.view();
        Packed::from_listpack(Listpack::clone(&view))
    }
}

/// [`extend`] for an iterator over a packed hash's bytes.
///
/// # Safety
/// As for [`extend`]: `LpIter` only borrows the buffer, never the `Listpack` it came from.
unsafe fn extend_iter<'a>(it: LpIter<'_>) -> LpIter<'a> {
    // SAFETY: the same type, only the lifetime changes (forwarded from the caller).
    unsafe { std::mem::transmute::<LpIter<'_>, LpIter<'a>>(it) }
}

/// Extends a borrow of a packed hash's bytes to the borrow of the hash itself.
///
/// # Safety
/// `v` borrows the buffer of a `Packed` that lives, unmodified, for `'a`.
unsafe fn extend<'a>(v: LpValue<'_>) -> LpValue<'a> {
    match v {
        // SAFETY: forwarded from the caller.
        LpValue::Str(s) => LpValue::Str(unsafe { std::slice::from_raw_parts(s.as_ptr(), s.len()) }),
        LpValue::Int(i) => LpValue::Int(i),
    }
}

/// A Redis hash.
#[derive(Clone)]
pub struct HashValue {
    enc: Enc,
}

impl Default for HashValue {
    fn default() -> Self {
        HashValue::new()
    }
}

/// Iterator over (field, value) pairs, in listpack order or table order.
pub enum HashIter<'a> {
    Packed(crate::listpack::LpIter<'a>),
    Table(Box<dyn Iterator<Item = (&'a [u8], &'a [u8])> + 'a>),
}

impl<'a> Iterator for HashIter<'a> {
    type Item = (LpValue<'a>, LpValue<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            HashIter::Packed(it) => {
                let f = it.next()?;
                let v = it.next().expect("listpack hash holds pairs");
                Some((f, v))
            }
            HashIter::Table(it) => it.next().map(|(f, v)| (LpValue::Str(f), LpValue::Str(v))),
        }
    }
}

impl HashValue {
    /// An empty hash in the packed encoding (Redis's `createHashObject`).
    pub fn new() -> HashValue {
        HashValue {
            enc: Enc::Packed(Packed::empty()),
        }
    }

    pub fn len(&self) -> usize {
        match &self.enc {
            Enc::Packed(p) => p.count as usize / 2,
            Enc::Table(m) => m.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn is_packed(&self) -> bool {
        matches!(self.enc, Enc::Packed(_))
    }

    /// Redis's `hashTypeTryConversion`: before a write, converts a packed hash when any of
    /// the argument lengths (fields and values about to be written) exceeds the value limit.
    pub fn convert_for_lengths(
        &mut self,
        lens: impl IntoIterator<Item = usize>,
        limits: &CollectionLimits,
    ) {
        if self.is_packed() && lens.into_iter().any(|l| l > limits.hash_max_listpack_value) {
            self.convert_to_table();
        }
    }

    fn convert_to_table(&mut self) {
        let Enc::Packed(p) = &self.enc else {
            return;
        };
        let lp = p.view();
        let mut map = StringMap::with_capacity(lp.len() / 2);
        let mut it = lp.iter();
        let (mut fbuf, mut vbuf) = ([0u8; 20], [0u8; 20]);
        while let (Some(f), Some(v)) = (it.next(), it.next()) {
            map.insert(f.as_bytes(&mut fbuf), v.as_bytes(&mut vbuf));
        }
        self.enc = Enc::Table(Box::new(map));
    }

    /// Position of the value of `field` in a packed hash.
    fn packed_value_pos(lp: &Listpack, field: &[u8]) -> Option<LpPos> {
        let f = lp.find(lp.first()?, field, 1)?;
        lp.next(f)
    }

    pub fn get(&self, field: &[u8]) -> Option<LpValue<'_>> {
        match &self.enc {
            Enc::Packed(p) => {
                let lp = p.view();
                let v = Self::packed_value_pos(&lp, field).map(|at| lp.get(at));
                // SAFETY: the bytes are `p`'s buffer, borrowed (unmodified) with `self`.
                v.map(|v| unsafe { extend(v) })
            }
            Enc::Table(m) => m.get(field).map(LpValue::Str),
        }
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        match &self.enc {
            Enc::Packed(p) => {
                let lp = p.view();
                lp.first().and_then(|at| lp.find(at, field, 1)).is_some()
            }
            Enc::Table(m) => m.contains_key(field),
        }
    }

    /// Sets `field` to `value` (Redis's `hashTypeSet`); true when the field is new. Converts
    /// first when either is too long for the packed encoding, after when there are too many.
    pub fn set(&mut self, field: &[u8], value: &[u8], limits: &CollectionLimits) -> bool {
        self.convert_for_lengths([field.len(), value.len()], limits);
        match &mut self.enc {
            Enc::Packed(p) => {
                let added = p.modify(|lp| match Self::packed_value_pos(lp, field) {
                    Some(at) => {
                        lp.replace(at, value);
                        false
                    }
                    None => {
                        lp.push_back(field);
                        lp.push_back(value);
                        true
                    }
                });
                if self.len() > limits.hash_max_listpack_entries {
                    self.convert_to_table();
                }
                added
            }
            Enc::Table(m) => m.insert(field, value),
        }
    }

    /// Removes `field`; true when it was there.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match &mut self.enc {
            Enc::Packed(p) => {
                let lp = p.view();
                let Some(f) = lp.first().and_then(|at| lp.find(at, field, 1)) else {
                    return false;
                };
                p.modify(|lp| {
                    let v = lp.delete(f).expect("a field is followed by its value");
                    lp.delete(v);
                });
                true
            }
            Enc::Table(m) => m.remove(field),
        }
    }

    pub fn iter(&self) -> HashIter<'_> {
        match &self.enc {
            Enc::Packed(p) => {
                let view = p.view();
                // SAFETY: the iterator reads `p`'s buffer only (not the view), which lives
                // unmodified while `self` is borrowed.
                HashIter::Packed(unsafe { extend_iter(view.iter()) })
            }
            Enc::Table(m) => HashIter::Table(Box::new(m.iter())),
        }
    }

    /// One HSCAN step: a packed hash reports everything and returns cursor 0, as Redis does.
    pub fn scan<'a>(&'a self, cursor: u64, mut f: impl FnMut(LpValue<'a>, LpValue<'a>)) -> u64 {
        match &self.enc {
            Enc::Packed(_) => {
                for (k, v) in self.iter() {
                    f(k, v);
                }
                0
            }
            Enc::Table(m) => m.scan(cursor, |k, v| f(LpValue::Str(k), LpValue::Str(v))),
        }
    }

    /// The `i`-th pair in packed order; for tables use [`HashValue::random`].
    fn packed_pair(lp: &Listpack, i: usize) -> (LpValue<'_>, LpValue<'_>) {
        let p = lp.seek(2 * i as i64).expect("index in range");
        let v = lp.next(p).expect("a field is followed by its value");
        (lp.get(p), lp.get(v))
    }

    /// A random pair, drawn from `seed`; None when empty.
    pub fn random(&self, seed: u64) -> Option<(LpValue<'_>, LpValue<'_>)> {
        match &self.enc {
            Enc::Packed(p) => {
                let lp = p.view();
                let n = lp.len() / 2;
                let (f, v) =
                    (n > 0).then(|| Self::packed_pair(&lp, (mix(seed) % n as u64) as usize))?;
                // SAFETY: the bytes are `p`'s buffer, borrowed (unmodified) with `self`.
                Some(unsafe { (extend(f), extend(v)) })
            }
            Enc::Table(m) => m
                .random(seed)
                .map(|(k, v)| (LpValue::Str(k), LpValue::Str(v))),
        }
    }

    /// `count` distinct random pairs (count < len), drawn from `seed`.
    pub fn random_distinct(&self, count: usize, seed: u64) -> Vec<(LpValue<'_>, LpValue<'_>)> {
        let n = self.len();
        debug_assert!(count < n);
        let mut rng = seed;
        let mut next = move || {
            rng = rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
            mix(rng)
        };
        match &self.enc {
            Enc::Packed(_) => {
                // Selection sampling keeps listpack order and walks the listpack once.
                let mut out = Vec::with_capacity(count);
                let mut it = self.iter();
                let mut left = count;
                for i in 0..n {
                    let pair = it.next().expect("len pairs");
                    if (next() % (n - i) as u64) < left as u64 {
                        out.push(pair);
                        left -= 1;
                        if left == 0 {
                            break;
                        }
                    }
                }
                out
            }
            Enc::Table(m) => {
                if count * 3 > n {
                    // Most of the hash: shuffle the front of a full copy of the references.
                    let mut all: Vec<(&[u8], &[u8])> = m.iter().collect();
                    for i in 0..count {
                        let j = i + (next() % (n - i) as u64) as usize;
                        all.swap(i, j);
                    }
                    all.truncate(count);
                    all.into_iter()
                        .map(|(k, v)| (LpValue::Str(k), LpValue::Str(v)))
                        .collect()
                } else {
                    let mut seen = std::collections::HashSet::with_capacity(count);
                    let mut out = Vec::with_capacity(count);
                    while out.len() < count {
                        let (k, v) = m.random(next()).expect("not empty");
                        if seen.insert(k.as_ptr()) {
                            out.push((LpValue::Str(k), LpValue::Str(v)));
                        }
                    }
                    out
                }
            }
        }
    }
}

/// A cheap 64-bit mixer (SplitMix64's finaliser) to spread caller seeds.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl TypedObject for HashValue {
    fn obj_type(&self) -> ObjType {
        ObjType::Hash
    }

    fn heap_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + match &self.enc {
                Enc::Packed(p) => p.heap_bytes(),
                Enc::Table(m) => std::mem::size_of::<StringMap>() + m.heap_bytes(),
            }
    }

    fn clone_object(&self) -> Box<dyn TypedObject> {
        Box::new(self.clone())
    }

    fn encoding_name(&self) -> &'static str {
        match self.enc {
            Enc::Packed(_) => "listpack",
            Enc::Table(_) => "hashtable",
        }
    }

    fn len(&self) -> usize {
        HashValue::len(self)
    }

    /// A table frees each field; a listpack is one buffer.
    fn free_effort(&self) -> usize {
        match self.enc {
            Enc::Packed(_) => 1,
            Enc::Table(_) => HashValue::len(self),
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    fn limits(entries: usize, value: usize) -> CollectionLimits {
        CollectionLimits {
            hash_max_listpack_entries: entries,
            hash_max_listpack_value: value,
            ..CollectionLimits::default()
        }
    }

    fn check(h: &HashValue, model: &HashMap<Vec<u8>, Vec<u8>>) {
        assert_eq!(h.len(), model.len());
        let got: HashMap<Vec<u8>, Vec<u8>> =
            h.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect();
        assert_eq!(&got, model);
        for (f, v) in model {
            assert!(h.get(f).unwrap().eq_bytes(v));
            assert!(h.contains(f));
        }
        let mut scanned = HashMap::new();
        let mut cursor = 0;
        loop {
            cursor = h.scan(cursor, |f, v| {
                scanned.insert(f.to_vec(), v.to_vec());
            });
            if cursor == 0 {
                break;
            }
        }
        assert_eq!(&scanned, model);
    }

    fn field(i: u8) -> Vec<u8> {
        match i % 4 {
            0 => vec![b'f', i],
            1 => i.to_string().into_bytes(), // integer-looking fields are stored as integers
            2 => format!("-{i}").into_bytes(),
            _ => format!("field-{i}").into_bytes(),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn hash_matches_model_across_conversion(
            entries in 0usize..12,
            ops in proptest::collection::vec(
                (0u8..3, 0u8..24, proptest::collection::vec(any::<u8>(), 0..12), any::<bool>()),
                0..80),
        ) {
            let lim = limits(entries, 8);
            let mut h = HashValue::new();
            let mut model: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
            let mut was_table = false;
            for (op, f, v, numeric) in ops {
                let f = field(f);
                let v = if numeric { (v.len() as i64 * 1000 - 3000).to_string().into_bytes() } else { v };
                match op {
                    0 | 1 => prop_assert_eq!(h.set(&f, &v, &lim), model.insert(f.clone(), v.clone()).is_none()),
                    _ => prop_assert_eq!(h.remove(&f), model.remove(&f).is_some()),
                }
                // Never back to packed once converted; packed within the limits only.
                if was_table {
                    prop_assert!(!h.is_packed());
                }
                was_table = !h.is_packed();
                if h.is_packed() {
                    prop_assert!(h.len() <= entries);
                    for (f, v) in h.iter() {
                        prop_assert!(f.len() <= 8 && v.len() <= 8);
                    }
                }
                check(&h, &model);
            }
            let copy = h.clone();
            check(&copy, &model);
        }
    }

    #[test]
    fn conversion_thresholds() {
        let lim = limits(3, 5);
        let mut h = HashValue::new();
        for i in 0..3 {
            h.set(format!("f{i}").as_bytes(), b"v", &lim);
        }
        assert_eq!(h.encoding_name(), "listpack");
        h.set(b"f3", b"v", &lim);
        assert_eq!(h.encoding_name(), "hashtable");

        let mut h = HashValue::new();
        h.set(b"a", b"12345", &lim);
        assert_eq!(h.encoding_name(), "listpack");
        h.set(b"a", b"123456", &lim);
        assert_eq!(h.encoding_name(), "hashtable");
        assert!(h.get(b"a").unwrap().eq_bytes(b"123456"));

        let mut h = HashValue::new();
        h.convert_for_lengths([1, 6], &lim);
        assert_eq!(h.encoding_name(), "hashtable");
    }

    #[test]
    fn random_pairs() {
        let lim = CollectionLimits::default();
        for n in [10usize, 1000] {
            let mut h = HashValue::new();
            for i in 0..n {
                h.set(format!("f{i}").as_bytes(), format!("v{i}").as_bytes(), &lim);
            }
            assert_eq!(h.is_packed(), n <= 512);
            let mut seen = std::collections::HashSet::new();
            for s in 0..(n as u64 * 20) {
                let (f, v) = h.random(s).unwrap();
                assert_eq!(&v.to_vec()[1..], &f.to_vec()[1..]);
                seen.insert(f.to_vec());
            }
            assert_eq!(seen.len(), n);
            for count in [1, n / 4, n / 2, n - 1] {
                let picked = h.random_distinct(count, 99);
                let distinct: std::collections::HashSet<Vec<u8>> =
                    picked.iter().map(|(f, _)| f.to_vec()).collect();
                assert_eq!(picked.len(), count);
                assert_eq!(distinct.len(), count);
            }
        }
    }
}

#[test]
fn hash_value_is_small() {
    // The packed encoding's 16 bytes, with the table variant in the same space.
    assert_eq!(std::mem::size_of::<HashValue>(), 16);
}
