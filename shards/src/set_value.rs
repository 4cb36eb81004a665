//! `SetValue`: the value of a Redis set, in one of three encodings (OBJECT ENCODING names):
//!
//! - `intset`: every member is a canonical decimal i64 and there are at most
//!   `set-max-intset-entries` of them ([`IntSet`]);
//! - `listpack`: small string sets, at most `set-max-listpack-entries` members of at most
//!   `set-max-listpack-value` bytes ([`Listpack`], as Redis 7.2; with
//!   `set-max-listpack-entries 0` small string sets skip it, as Redis 7.0);
//! - `hashtable`: everything larger ([`DenseSet`]).
//!
//! An add that crosses a threshold converts the set on that write; sets never convert back.

use crate::cell::{parse_canonical_i64, ObjType, TypedObject};
use crate::dense::DenseSet;
use crate::intset::IntSet;
use crate::limits::CollectionLimits;
use crate::listpack::{Listpack, LpValue};
use std::any::Any;

/// A member as an encoding holds it: an integer (intset, or a listpack's packed integer) or
/// bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetMember<'a> {
    Int(i64),
    Str(&'a [u8]),
}

impl SetMember<'_> {
    /// Appends the member's bytes (an integer's decimal form) to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        match self {
            SetMember::Int(v) => {
                let mut buf = itoa_buf();
                out.extend_from_slice(fmt_i64(*v, &mut buf));
            }
            SetMember::Str(s) => out.extend_from_slice(s),
        }
    }

    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_to(&mut out);
        out
    }

    /// Calls `f` with the member's bytes without allocating.
    pub fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        match self {
            SetMember::Int(v) => {
                let mut buf = itoa_buf();
                f(fmt_i64(*v, &mut buf))
            }
            SetMember::Str(s) => f(s),
        }
    }
}

impl<'a> From<LpValue<'a>> for SetMember<'a> {
    fn from(v: LpValue<'a>) -> SetMember<'a> {
        match v {
            LpValue::Int(i) => SetMember::Int(i),
            LpValue::Str(s) => SetMember::Str(s),
        }
    }
}

fn itoa_buf() -> [u8; 20] {
    [0u8; 20]
}

/// The decimal form of `v` in `buf` (20 bytes hold every i64).
fn fmt_i64(v: i64, buf: &mut [u8; 20]) -> &[u8] {
    let mut n = v.unsigned_abs();
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        i -= 1;
        buf[i] = b'-';
    }
    &buf[i..]
}

/// Length of the decimal form of `v`.
fn decimal_len(v: i64) -> usize {
    let mut buf = itoa_buf();
    fmt_i64(v, &mut buf).len()
}

#[derive(Clone)]
enum Enc {
    Int(IntSet),
    Packed(Listpack),
    Hash(DenseSet),
}

/// A Redis set (see the module docs).
#[derive(Clone)]
pub struct SetValue {
    enc: Enc,
}

impl Default for SetValue {
    fn default() -> SetValue {
        SetValue::new()
    }
}

impl SetValue {
    /// An empty set, intset-encoded (the encoding Redis gives a new set whose first member
    /// is an integer; the first string member converts it).
    pub fn new() -> SetValue {
        SetValue {
            enc: Enc::Int(IntSet::new()),
        }
    }

    /// A set of `members` (duplicates allowed), encoded as adding them one by one would.
    pub fn from_members<M: AsRef<[u8]>>(
        members: impl IntoIterator<Item = M>,
        limits: &CollectionLimits,
    ) -> SetValue {
        let mut s = SetValue::new();
        for m in members {
            s.add(m.as_ref(), limits);
        }
        s.shrink();
        s
    }

    pub fn len(&self) -> usize {
        match &self.enc {
            Enc::Int(s) => s.len(),
            Enc::Packed(lp) => lp.len(),
            Enc::Hash(d) => d.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// OBJECT ENCODING's name for the encoding in use.
    pub fn encoding(&self) -> &'static str {
        match &self.enc {
            Enc::Int(_) => "intset",
            Enc::Packed(_) => "listpack",
            Enc::Hash(_) => "hashtable",
        }
    }

    /// Bytes owned on the heap by the encoding (not counting `self`), O(1).
    fn inner_heap_bytes(&self) -> usize {
        match &self.enc {
            Enc::Int(s) => s.heap_bytes(),
            Enc::Packed(lp) => lp.heap_bytes(),
            Enc::Hash(d) => d.heap_bytes(),
        }
    }

    /// Frees spare capacity of the small encodings (after building a set in bulk).
    pub fn shrink(&mut self) {
        if let Enc::Int(s) = &mut self.enc {
            s.shrink_to_fit();
        }
    }

    pub fn contains(&self, member: &[u8]) -> bool {
        match &self.enc {
            Enc::Int(s) => parse_canonical_i64(member).is_some_and(|v| s.contains(v)),
            Enc::Packed(lp) => lp_find(lp, member).is_some(),
            Enc::Hash(d) => d.contains(member),
        }
    }

    /// Adds `member`; false when it was already there. Converts the encoding first when the
    /// add would cross a threshold of `limits`.
    pub fn add(&mut self, member: &[u8], limits: &CollectionLimits) -> bool {
        match &mut self.enc {
            Enc::Int(s) => {
                if let Some(v) = parse_canonical_i64(member) {
                    if s.contains(v) {
                        return false;
                    }
                    if s.len() < limits.set_max_intset_entries {
                        return s.insert(v);
                    }
                }
                // A string member, or one integer more than an intset may hold.
                let packed = s.len() < limits.set_max_listpack_entries
                    && member.len() <= limits.set_max_listpack_value
                    && self.int_members_fit(limits.set_max_listpack_value);
                self.convert(packed, self.len() + 1);
                self.add(member, limits)
            }
            Enc::Packed(lp) => {
                if lp_find(lp, member).is_some() {
                    return false;
                }
                if lp.len() < limits.set_max_listpack_entries
                    && member.len() <= limits.set_max_listpack_value
                {
                    lp.push_back(member);
                    return true;
                }
                self.convert(false, self.len() + 1);
                self.add(member, limits)
            }
            Enc::Hash(d) => d.insert(member),
        }
    }

    /// Whether every intset member's decimal form fits `max_value` bytes (an intset is
    /// sorted, so its ends are its longest members).
    fn int_members_fit(&self, max_value: usize) -> bool {
        match &self.enc {
            Enc::Int(s) if !s.is_empty() => {
                decimal_len(s.get(0)) <= max_value && decimal_len(s.get(s.len() - 1)) <= max_value
            }
            _ => true,
        }
    }

    /// Re-encodes the set: as a listpack when `packed`, else as a hashtable sized for
    /// `capacity` members.
    fn convert(&mut self, packed: bool, capacity: usize) {
        let mut next = if packed {
            Enc::Packed(Listpack::new())
        } else {
            Enc::Hash(DenseSet::with_capacity(capacity))
        };
        let mut buf = itoa_buf();
        self.for_each(|m| {
            let bytes: &[u8] = match m {
                SetMember::Int(v) => fmt_i64(v, &mut buf),
                SetMember::Str(s) => s,
            };
            match &mut next {
                Enc::Packed(lp) => lp.push_back(bytes),
                Enc::Hash(d) => {
                    d.insert(bytes);
                }
                Enc::Int(_) => unreachable!("never converts to an intset"),
            }
        });
        self.enc = next;
    }

    /// Removes `member`; false when it was not there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match &mut self.enc {
            Enc::Int(s) => parse_canonical_i64(member).is_some_and(|v| s.remove(v)),
            Enc::Packed(lp) => match lp_find(lp, member) {
                Some(p) => {
                    lp.delete(p);
                    true
                }
                None => false,
            },
            Enc::Hash(d) => d.remove(member),
        }
    }

    /// Calls `f` with every member (intsets in ascending order, the others in storage order).
    pub fn for_each(&self, mut f: impl FnMut(SetMember<'_>)) {
        match &self.enc {
            Enc::Int(s) => s.iter().for_each(|v| f(SetMember::Int(v))),
            Enc::Packed(lp) => lp.iter().for_each(|v| f(v.into())),
            Enc::Hash(d) => d.iter().for_each(|m| f(SetMember::Str(m))),
        }
    }

    /// Every member as bytes.
    pub fn to_vecs(&self) -> Vec<Vec<u8>> {
        let mut out = Vec::with_capacity(self.len());
        self.for_each(|m| out.push(m.to_vec()));
        out
    }

    /// A member chosen from `random` (uniform over members for uniform `random`); None when
    /// empty. O(1) for intsets and hashtables, O(len) for listpacks (at most a few hundred).
    pub fn random_member(&self, random: u64) -> Option<SetMember<'_>> {
        if self.is_empty() {
            return None;
        }
        let i = (random % self.len() as u64) as usize;
        Some(match &self.enc {
            Enc::Int(s) => SetMember::Int(s.get(i)),
            Enc::Packed(lp) => lp.get(lp.seek(i as i64)?).into(),
            Enc::Hash(d) => SetMember::Str(d.random(random)?),
        })
    }

    /// Removes and returns a member chosen from `random`; None when empty.
    pub fn pop_random(&mut self, random: u64) -> Option<Vec<u8>> {
        if self.is_empty() {
            return None;
        }
        let i = (random % self.len() as u64) as usize;
        match &mut self.enc {
            Enc::Int(s) => Some(s.remove_at(i).to_string().into_bytes()),
            Enc::Packed(lp) => {
                let p = lp.seek(i as i64)?;
                let m = lp.get(p).to_vec();
                lp.delete(p);
                Some(m)
            }
            Enc::Hash(d) => d.pop_random(random),
        }
    }

    /// One SSCAN step from `cursor`: calls `f` with members and returns the next cursor (0
    /// when done). The small encodings return everything at once with cursor 0, as Redis.
    /// `count` is a hint of how many members a step visits.
    pub fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(SetMember<'_>)) -> u64 {
        match &self.enc {
            Enc::Hash(d) => {
                // Like Redis: buckets until `count` members were seen, at most count*10 steps
                // (long runs of empty buckets end a step early).
                let mut cursor = cursor;
                let mut seen = 0usize;
                let mut steps = count.max(1).saturating_mul(10);
                loop {
                    cursor = d.scan(cursor, |m| {
                        seen += 1;
                        f(SetMember::Str(m))
                    });
                    steps -= 1;
                    if cursor == 0 || seen >= count || steps == 0 {
                        return cursor;
                    }
                }
            }
            _ => {
                self.for_each(f);
                0
            }
        }
    }
}

fn lp_find(lp: &Listpack, member: &[u8]) -> Option<crate::listpack::LpPos> {
    lp.find(lp.first()?, member, 0)
}

impl TypedObject for SetValue {
    fn obj_type(&self) -> ObjType {
        ObjType::Set
    }

    fn heap_bytes(&self) -> usize {
        std::mem::size_of::<SetValue>() + self.inner_heap_bytes()
    }

    fn clone_object(&self) -> Box<dyn TypedObject> {
        Box::new(self.clone())
    }

    fn encoding_name(&self) -> &'static str {
        self.encoding()
    }

    fn len(&self) -> usize {
        SetValue::len(self)
    }

    /// A hash table frees each member; the compact encodings are one buffer.
    fn free_effort(&self) -> usize {
        match &self.enc {
            Enc::Hash(d) => d.len(),
            Enc::Int(_) | Enc::Packed(_) => 1,
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
#[path = "set_value_tests.rs"]
mod tests;
