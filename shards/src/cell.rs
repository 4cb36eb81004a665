//! 16-byte key and value cells (Dragonfly's `CompactObj`).
//!
//! Layout of a [`Cell`] (`repr(C)`, 16 bytes, align 8):
//!
//! ```text
//! bytes 0..8   word: inline bytes 0..8 | i64 | heap pointer | object pointer
//! bytes 8..14  tail: inline bytes 8..14 | heap length (u32 LE in 8..12), capacity class (12)
//! byte  14     tag:  0..=14 inline length, INT, HEAP, OBJECT
//! byte  15     flags (see [`CellFlags`])
//! ```
//!
//! A value cell may carry a memcached item's flags and CAS unique ([`CellFlags::MC_META`]):
//! then it is a heap string whose allocation holds [`MC_META_LEN`] more bytes after the
//! string (flags u32 LE, cas u64 LE). Plain strings never pay for it.
//!
//! The tag is an enum with 18 values, so `Option<Cell>` (and `Option<(CompactKey,
//! CompactValue)>`) use its niche and cost no extra byte: the DashTable stores slots as
//! `Option<(K, V)>` without a separate occupancy byte.

use std::any::Any;
use std::fmt;
use std::ops::Deref;
use std::ptr::NonNull;

/// Longest string stored inside the cell itself.
pub const INLINE_LEN_MAX: usize = 14;

/// Redis caps strings at 512 MiB; the cell stores heap lengths as u32.
const HEAP_LEN_MAX: usize = u32::MAX as usize;

/// Byte of `tail` holding a heap string's capacity class (see `Cell::heap_capacity`).
const HEAP_CLASS: usize = 4;

#[repr(u8)]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Tag {
    Inline0 = 0,
    Inline1,
    Inline2,
    Inline3,
    Inline4,
    Inline5,
    Inline6,
    Inline7,
    Inline8,
    Inline9,
    Inline10,
    Inline11,
    Inline12,
    Inline13,
    Inline14,
    Int,
    Heap,
    Object,
}

const INLINE_TAGS: [Tag; INLINE_LEN_MAX + 1] = [
    Tag::Inline0,
    Tag::Inline1,
    Tag::Inline2,
    Tag::Inline3,
    Tag::Inline4,
    Tag::Inline5,
    Tag::Inline6,
    Tag::Inline7,
    Tag::Inline8,
    Tag::Inline9,
    Tag::Inline10,
    Tag::Inline11,
    Tag::Inline12,
    Tag::Inline13,
    Tag::Inline14,
];

/// Bytes of memcached metadata (flags u32, cas u64) after a [`CellFlags::MC_META`] string.
pub const MC_META_LEN: usize = 12;

/// Flag bits carried by every cell (byte 15). On a key, the bits of [`CellFlags::KEY_CLOCK`]
/// hold the top of its access clock; on a value, bit 7 is still free.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct CellFlags;

impl CellFlags {
    /// On a key: the key has an entry in the expire table.
    pub const HAS_EXPIRY: u8 = 1 << 0;
    /// On a key: never evicted in cache mode.
    pub const STICKY: u8 = 1 << 1;
    /// On a key: the five top bits of its access clock (the table's per-slot stamp holds the
    /// 16 below), in bits 2 and 4..8. Bit 3 is left out: on a heap cell it means MC_META,
    /// which changes how the allocation is read, cloned and freed.
    pub const KEY_CLOCK: u8 = 0b1111_0100;
    /// On a value: a heap string followed by memcached flags and CAS in its allocation. Set
    /// only by [`CompactValue::memcache_item`]; `set_flag` cannot change it.
    pub const MC_META: u8 = 1 << 3;
    /// On a value: memcached's "fetched since stored" bit (meta flag `h`).
    pub const MC_FETCHED: u8 = 1 << 4;
    /// On a value: a recache/vivify token was handed out for this item (meta `W`/`Z`).
    pub const MC_WON: u8 = 1 << 5;
    /// On a value: marked stale by an invalidating meta delete or set (meta `X`).
    pub const MC_STALE: u8 = 1 << 6;
    /// The bits that describe one memcached item; a write through Redis clears them.
    pub const MC_ITEM_BITS: u8 = Self::MC_META | Self::MC_FETCHED | Self::MC_WON | Self::MC_STALE;
}

/// How a cell stores its content (OBJECT ENCODING and accounting).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Encoding {
    /// Bytes inside the cell.
    Inline,
    /// A canonical decimal string stored as an i64.
    Int,
    /// Bytes in one heap allocation: of exactly their length, or of a power of two once
    /// grown in place (APPEND, SETRANGE, SETBIT).
    Heap,
    /// A typed object behind a pointer.
    Object,
}

/// Redis data types. Only `String` exists as a cell encoding today; the others are held by
/// [`TypedObject`] implementations that later issues add.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub enum ObjType {
    String = 0,
    List = 1,
    Set = 2,
    ZSet = 3,
    Hash = 4,
    Stream = 5,
}

/// A typed value (list, set, zset, hash, stream...) that a value cell holds by pointer.
pub trait TypedObject: Any + Send + Sync {
    fn obj_type(&self) -> ObjType;
    /// Bytes this object owns on the heap, including its own struct (`size_of_val(self)`).
    fn heap_bytes(&self) -> usize;
    fn clone_object(&self) -> Box<dyn TypedObject>;
    /// OBJECT ENCODING's name for the encoding in use (`listpack`, `quicklist`, `intset`,
    /// `hashtable`, `skiplist`...).
    fn encoding_name(&self) -> &'static str;
    /// Number of elements (LLEN, SCARD, HLEN, ZCARD); a collection with none is deleted.
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// About how many allocations freeing the object takes (Redis's lazyfreeGetFreeEffort):
    /// what decides whether a delete frees it lazily (db_slice/lazyfree.rs). Compact
    /// encodings are one allocation.
    fn free_effort(&self) -> usize {
        1
    }
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

#[repr(C)]
#[derive(Clone, Copy)]
union Word {
    bytes: [u8; 8],
    int: i64,
    heap: NonNull<u8>,
    object: NonNull<Box<dyn TypedObject>>,
}

/// The shared 16-byte representation behind [`CompactKey`] and [`CompactValue`].
#[repr(C)]
pub struct Cell {
    word: Word,
    tail: [u8; 6],
    tag: Tag,
    flags: u8,
}

const _: () = assert!(std::mem::size_of::<Cell>() == 16);
const _: () = assert!(std::mem::size_of::<Option<Cell>>() == 16);

// SAFETY: a cell exclusively owns its heap bytes or its object (no sharing, no interior
// mutability), and `TypedObject: Send + Sync`, so moving or sharing a cell across threads is
// as safe as doing so with a `Box<[u8]>` or a `Box<dyn TypedObject>`.
unsafe impl Send for Cell {}
// SAFETY: see `Send` above; `&Cell` only gives read access to owned data.
unsafe impl Sync for Cell {}

impl Cell {
    fn inline(bytes: &[u8]) -> Cell {
        debug_assert!(bytes.len() <= INLINE_LEN_MAX);
        let mut buf = [0u8; 14];
        buf[..bytes.len()].copy_from_slice(bytes);
        let mut word = [0u8; 8];
        word.copy_from_slice(&buf[..8]);
        let mut tail = [0u8; 6];
        tail.copy_from_slice(&buf[8..]);
        Cell {
            word: Word { bytes: word },
            tail,
            tag: INLINE_TAGS[bytes.len()],
            flags: 0,
        }
    }

    fn int(value: i64) -> Cell {
        Cell {
            word: Word { int: value },
            tail: [0; 6],
            tag: Tag::Int,
            flags: 0,
        }
    }

    fn heap(bytes: &[u8]) -> Cell {
        assert!(
            bytes.len() <= HEAP_LEN_MAX,
            "string longer than u32::MAX bytes"
        );
        let boxed: Box<[u8]> = bytes.into();
        let len = boxed.len() as u32;
        let raw = Box::into_raw(boxed) as *mut u8;
        // SAFETY: `Box::into_raw` never returns null.
        let ptr = unsafe { NonNull::new_unchecked(raw) };
        let mut tail = [0u8; 6];
        tail[..4].copy_from_slice(&len.to_le_bytes());
        Cell {
            word: Word { heap: ptr },
            tail,
            tag: Tag::Heap,
            flags: 0,
        }
    }

    /// A heap string with memcached `flags` and `cas` stored after its bytes.
    fn heap_with_meta(bytes: &[u8], flags: u32, cas: u64) -> Cell {
        assert!(
            bytes.len() <= HEAP_LEN_MAX - MC_META_LEN,
            "string longer than u32::MAX bytes"
        );
        let mut buf = Vec::with_capacity(bytes.len() + MC_META_LEN);
        buf.extend_from_slice(bytes);
        buf.extend_from_slice(&flags.to_le_bytes());
        buf.extend_from_slice(&cas.to_le_bytes());
        let boxed: Box<[u8]> = buf.into_boxed_slice();
        let raw = Box::into_raw(boxed) as *mut u8;
        // SAFETY: `Box::into_raw` never returns null.
        let ptr = unsafe { NonNull::new_unchecked(raw) };
        let mut tail = [0u8; 6];
        tail[..4].copy_from_slice(&(bytes.len() as u32).to_le_bytes());
        Cell {
            word: Word { heap: ptr },
            tail,
            tag: Tag::Heap,
            flags: CellFlags::MC_META,
        }
    }

    /// The memcached (flags, cas) of an MC_META cell.
    fn mc_meta(&self) -> Option<(u32, u64)> {
        if self.flags & CellFlags::MC_META == 0 {
            return None;
        }
        debug_assert_eq!(self.tag, Tag::Heap);
        let mut meta = [0u8; MC_META_LEN];
        // SAFETY: MC_META is only set by `heap_with_meta`, whose allocation holds
        // `heap_len() + MC_META_LEN` initialized bytes owned by this cell; string writers
        // (`string_mut`) drop the metadata before changing the string.
        unsafe {
            std::ptr::copy_nonoverlapping(
                self.word.heap.as_ptr().add(self.heap_len()),
                meta.as_mut_ptr(),
                MC_META_LEN,
            )
        };
        let flags = u32::from_le_bytes(meta[..4].try_into().expect("4 bytes"));
        let cas = u64::from_le_bytes(meta[4..].try_into().expect("8 bytes"));
        Some((flags, cas))
    }

    /// Sets the CAS of an MC_META cell in place.
    fn set_mc_cas(&mut self, cas: u64) {
        assert!(self.flags & CellFlags::MC_META != 0, "not a memcached item");
        // SAFETY: as in `mc_meta`: the 8 CAS bytes lie inside this cell's allocation, which
        // `&mut self` borrows exclusively.
        unsafe {
            std::ptr::copy_nonoverlapping(
                cas.to_le_bytes().as_ptr(),
                self.word.heap.as_ptr().add(self.heap_len() + 4),
                8,
            )
        };
    }

    /// Turns an MC_META cell into a plain heap string of the same bytes (a write through
    /// Redis commands drops memcached's flags and CAS).
    fn drop_mc_meta(&mut self) {
        if self.flags & CellFlags::MC_META == 0 {
            return;
        }
        let mut plain = Cell::heap(&self.as_bytes().expect("heap cells are strings"));
        plain.flags = self.flags & !CellFlags::MC_META;
        *self = plain;
    }

    fn object(object: Box<dyn TypedObject>) -> Cell {
        let raw = Box::into_raw(Box::new(object));
        // SAFETY: `Box::into_raw` never returns null.
        let ptr = unsafe { NonNull::new_unchecked(raw) };
        Cell {
            word: Word { object: ptr },
            tail: [0; 6],
            tag: Tag::Object,
            flags: 0,
        }
    }

    /// Stores `bytes` as an integer when they are a canonical i64, else inline or on the heap.
    fn from_bytes_int_first(bytes: &[u8]) -> Cell {
        match parse_canonical_i64(bytes) {
            Some(value) => Cell::int(value),
            None => Cell::from_bytes_inline_first(bytes),
        }
    }

    /// Stores `bytes` inline when they fit, else as an integer if canonical, else on the heap.
    fn from_bytes_inline_first(bytes: &[u8]) -> Cell {
        if bytes.len() <= INLINE_LEN_MAX {
            Cell::inline(bytes)
        } else if let Some(value) = parse_canonical_i64(bytes) {
            Cell::int(value)
        } else {
            Cell::heap(bytes)
        }
    }

    fn heap_len(&self) -> usize {
        u32::from_le_bytes([self.tail[0], self.tail[1], self.tail[2], self.tail[3]]) as usize
    }

    fn set_heap_len(&mut self, len: usize) {
        self.tail[..4].copy_from_slice(&(len as u32).to_le_bytes());
    }

    /// Bytes allocated for a heap string: its length (class 0, as `Cell::heap` makes it) or
    /// `1 << class` once it was grown in place.
    fn heap_capacity(&self) -> usize {
        match self.tail[HEAP_CLASS] {
            0 if self.flags & CellFlags::MC_META != 0 => self.heap_len() + MC_META_LEN,
            0 => self.heap_len(),
            class => 1 << class,
        }
    }

    /// The string's bytes for writing, zero-extended to at least `min_len` first. Integers
    /// and inline strings that outgrow the cell move to the heap; a heap string grows to the
    /// next power of two, so a run of appends costs amortized O(1) per byte. `None` for
    /// typed objects (and lengths past u32::MAX).
    pub fn string_mut(&mut self, min_len: usize) -> Option<&mut [u8]> {
        if min_len > HEAP_LEN_MAX {
            return None;
        }
        // In-place writes keep no memcached metadata: the item's CAS must change.
        self.drop_mc_meta();
        self.flags &= !CellFlags::MC_ITEM_BITS;
        match self.tag {
            Tag::Object => return None,
            Tag::Int => {
                let bytes = self.as_bytes().expect("int cells are strings").to_vec();
                self.replace_with_bytes(&bytes, min_len);
            }
            Tag::Heap => {
                let len = self.heap_len();
                if min_len > self.heap_capacity() {
                    self.grow_heap(min_len);
                }
                if min_len > len {
                    // SAFETY: the allocation holds `heap_capacity() >= min_len` bytes and this
                    // cell owns it; bytes past `len` are written before they become readable.
                    unsafe {
                        std::ptr::write_bytes(self.word.heap.as_ptr().add(len), 0, min_len - len)
                    };
                    self.set_heap_len(min_len);
                }
            }
            inline => {
                let len = inline as usize;
                if min_len > INLINE_LEN_MAX {
                    let bytes = self.as_bytes().expect("inline cells are strings").to_vec();
                    self.replace_with_bytes(&bytes, min_len);
                } else if min_len > len {
                    // Inline bytes past the length are kept zero (`Cell::inline`), so growing
                    // only changes the length tag.
                    self.tag = INLINE_TAGS[min_len];
                }
            }
        }
        let len = self.str_len();
        match self.tag {
            Tag::Heap => {
                // SAFETY: Heap tag: `word.heap` points to `heap_len()` initialized bytes owned
                // by this cell, borrowed mutably through `&mut self`.
                Some(unsafe { std::slice::from_raw_parts_mut(self.word.heap.as_ptr(), len) })
            }
            // SAFETY: inline tag: `repr(C)` puts `word` (8 bytes) and `tail` (6) first and
            // contiguous, all 14 initialized; `len <= 14`; the borrow is tied to `&mut self`.
            _ => Some(unsafe { std::slice::from_raw_parts_mut(self as *mut Cell as *mut u8, len) }),
        }
    }

    /// Replaces an int or inline cell's content by a heap copy of `bytes`, zero-extended to
    /// `min_len`, with power-of-two capacity. Flags are kept.
    fn replace_with_bytes(&mut self, bytes: &[u8], min_len: usize) {
        let len = min_len.max(bytes.len());
        let capacity = len.next_power_of_two().max(16);
        let layout = std::alloc::Layout::from_size_align(capacity, 1).expect("string layout");
        // SAFETY: `layout` has a non-zero size.
        let raw = unsafe { std::alloc::alloc_zeroed(layout) };
        let Some(ptr) = NonNull::new(raw) else {
            std::alloc::handle_alloc_error(layout)
        };
        // SAFETY: `ptr` holds `capacity >= bytes.len()` bytes; the source is a separate Vec.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), ptr.as_ptr(), bytes.len()) };
        // The old content is an int or inline bytes: nothing to free.
        debug_assert!(!matches!(self.tag, Tag::Heap | Tag::Object));
        self.word = Word { heap: ptr };
        self.tail = [0; 6];
        self.set_heap_len(len);
        self.tail[HEAP_CLASS] = capacity.trailing_zeros() as u8;
        self.tag = Tag::Heap;
    }

    /// Moves a heap string to an allocation of the next power of two >= `min_len`.
    fn grow_heap(&mut self, min_len: usize) {
        let capacity = min_len.next_power_of_two().max(16);
        let old = std::alloc::Layout::from_size_align(self.heap_capacity(), 1).expect("layout");
        // SAFETY: `word.heap` was allocated by the global allocator with layout `old` (a
        // `Box<[u8]>` of `heap_len()` bytes for class 0, `alloc_zeroed` of `1 << class`
        // bytes otherwise) and is owned by this cell; `capacity` is non-zero and fits isize.
        let raw = unsafe { std::alloc::realloc(self.word.heap.as_ptr(), old, capacity) };
        let Some(ptr) = NonNull::new(raw) else {
            std::alloc::handle_alloc_error(
                std::alloc::Layout::from_size_align(capacity, 1).expect("layout"),
            )
        };
        self.word = Word { heap: ptr };
        self.tail[HEAP_CLASS] = capacity.trailing_zeros() as u8;
    }

    pub fn encoding(&self) -> Encoding {
        match self.tag {
            Tag::Int => Encoding::Int,
            Tag::Heap => Encoding::Heap,
            Tag::Object => Encoding::Object,
            _ => Encoding::Inline,
        }
    }

    /// The string form, or `None` for a typed object.
    pub fn as_bytes(&self) -> Option<CellBytes<'_>> {
        match self.tag {
            Tag::Int => {
                // SAFETY: the Int tag is only set together with `word.int`.
                let value = unsafe { self.word.int };
                Some(CellBytes::formatted(value))
            }
            Tag::Heap => {
                // SAFETY: the Heap tag is only set with `word.heap` pointing to a live
                // `Box<[u8]>` allocation of `heap_len()` bytes that this cell owns.
                let bytes =
                    unsafe { std::slice::from_raw_parts(self.word.heap.as_ptr(), self.heap_len()) };
                Some(CellBytes::Borrowed(bytes))
            }
            Tag::Object => None,
            inline => {
                let len = inline as usize;
                // SAFETY: `Cell` is `repr(C)` with `word` (8 bytes) at offset 0 and `tail`
                // (6 bytes) at offset 8, no padding between them; `Cell::inline` wrote all 14
                // bytes, and `len <= 14` for inline tags. The slice borrows `self`.
                let bytes =
                    unsafe { std::slice::from_raw_parts(self as *const Cell as *const u8, len) };
                Some(CellBytes::Borrowed(bytes))
            }
        }
    }

    /// Byte length of the string form (0 for objects).
    pub fn str_len(&self) -> usize {
        match self.tag {
            // SAFETY: the Int tag is only set together with `word.int`.
            Tag::Int => format_i64(unsafe { self.word.int }, &mut [0; 20]),
            Tag::Heap => self.heap_len(),
            Tag::Object => 0,
            inline => inline as usize,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self.tag {
            // SAFETY: the Int tag is only set together with `word.int`.
            Tag::Int => Some(unsafe { self.word.int }),
            Tag::Object => None,
            _ => self.as_bytes().and_then(|b| parse_canonical_i64(&b)),
        }
    }

    /// Compares the string form with `other` without allocating.
    #[inline]
    pub fn eq_bytes(&self, other: &[u8]) -> bool {
        let tag = self.tag as usize;
        if tag <= INLINE_LEN_MAX {
            // Fast path for the common inline key: length first, then bytes.
            return tag == other.len() && self.as_bytes().is_some_and(|b| *b == *other);
        }
        match self.tag {
            // SAFETY: the Int tag is only set together with `word.int`.
            Tag::Int => parse_canonical_i64(other) == Some(unsafe { self.word.int }),
            Tag::Object => false,
            _ => self.as_bytes().is_some_and(|b| *b == *other),
        }
    }

    pub fn as_object(&self) -> Option<&dyn TypedObject> {
        match self.tag {
            // SAFETY: the Object tag is only set with `word.object` pointing to a live
            // `Box<Box<dyn TypedObject>>` owned by this cell; the borrow is tied to `self`.
            Tag::Object => Some(unsafe { &**self.word.object.as_ptr() }),
            _ => None,
        }
    }

    pub fn as_object_mut(&mut self) -> Option<&mut dyn TypedObject> {
        match self.tag {
            // SAFETY: as in `as_object`; `&mut self` guarantees exclusive access.
            Tag::Object => Some(unsafe { &mut **self.word.object.as_ptr() }),
            _ => None,
        }
    }

    /// Heap bytes owned by this cell (0 for inline and integer cells).
    pub fn heap_bytes(&self) -> usize {
        match self.tag {
            Tag::Heap => self.heap_capacity(),
            Tag::Object => {
                std::mem::size_of::<Box<dyn TypedObject>>()
                    + self.as_object().map_or(0, |o| o.heap_bytes())
            }
            _ => 0,
        }
    }

    pub fn flags(&self) -> u8 {
        self.flags
    }

    pub fn has_flag(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    pub fn set_flag(&mut self, flag: u8, on: bool) {
        // MC_META describes the allocation: only its constructor sets it.
        let flag = flag & !CellFlags::MC_META;
        if on {
            self.flags |= flag;
        } else {
            self.flags &= !flag;
        }
    }
}

impl Drop for Cell {
    fn drop(&mut self) {
        match self.tag {
            Tag::Heap if self.tail[HEAP_CLASS] != 0 => {
                let layout = std::alloc::Layout::from_size_align(self.heap_capacity(), 1)
                    .expect("string layout");
                // SAFETY: a non-zero class means `word.heap` came from the global allocator
                // with exactly `layout` (`replace_with_bytes` / `grow_heap`) and is owned by
                // this cell; dropping the cell is the only place it is freed.
                unsafe { std::alloc::dealloc(self.word.heap.as_ptr(), layout) };
            }
            Tag::Heap => {
                let len = self.heap_capacity();
                // SAFETY: class 0: `word.heap` came from `Box::<[u8]>::into_raw` of exactly
                // `len` bytes (`Cell::heap`, or `Cell::heap_with_meta` with its metadata
                // counted by `heap_capacity`) and is owned by this cell; dropping the cell
                // is the only place it is freed.
                drop(unsafe {
                    Box::from_raw(std::ptr::slice_from_raw_parts_mut(
                        self.word.heap.as_ptr(),
                        len,
                    ))
                });
            }
            Tag::Object => {
                // SAFETY: `word.object` came from `Box::into_raw` in `Cell::object` and is
                // owned by this cell; freed only here.
                drop(unsafe { Box::from_raw(self.word.object.as_ptr()) });
            }
            _ => {}
        }
    }
}

impl Clone for Cell {
    fn clone(&self) -> Cell {
        let mut copy = match self.tag {
            Tag::Heap if self.flags & CellFlags::MC_META != 0 => {
                let (flags, cas) = self.mc_meta().expect("MC_META cell");
                Cell::heap_with_meta(&self.as_bytes().expect("heap"), flags, cas)
            }
            Tag::Heap => Cell::heap(&self.as_bytes().expect("heap cells are strings")),
            Tag::Object => Cell::object(self.as_object().expect("object tag").clone_object()),
            // Inline and Int cells own nothing: a bitwise copy is a complete, independent copy.
            _ => Cell {
                word: self.word,
                tail: self.tail,
                tag: self.tag,
                flags: 0,
            },
        };
        copy.flags = self.flags;
        copy
    }
}

impl fmt::Debug for Cell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.as_bytes() {
            Some(bytes) => write!(
                f,
                "{:?}({:?})",
                self.encoding(),
                String::from_utf8_lossy(&bytes)
            ),
            None => write!(f, "Object({:?})", self.as_object().map(|o| o.obj_type())),
        }
    }
}

/// The string form of a cell: borrowed bytes, or an integer formatted on the stack.
pub enum CellBytes<'a> {
    Borrowed(&'a [u8]),
    Formatted { buf: [u8; 20], len: u8 },
}

impl CellBytes<'_> {
    fn formatted(value: i64) -> CellBytes<'static> {
        let mut buf = [0u8; 20];
        let len = format_i64(value, &mut buf) as u8;
        CellBytes::Formatted { buf, len }
    }
}

impl Deref for CellBytes<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            CellBytes::Borrowed(bytes) => bytes,
            CellBytes::Formatted { buf, len } => &buf[..*len as usize],
        }
    }
}

/// Writes the decimal form of `value` at the start of `buf`; returns its length.
fn format_i64(value: i64, buf: &mut [u8; 20]) -> usize {
    let mut digits = [0u8; 20];
    let mut magnitude = value.unsigned_abs();
    let mut count = 0;
    loop {
        digits[count] = b'0' + (magnitude % 10) as u8;
        count += 1;
        magnitude /= 10;
        if magnitude == 0 {
            break;
        }
    }
    let mut len = 0;
    if value < 0 {
        buf[0] = b'-';
        len = 1;
    }
    for i in (0..count).rev() {
        buf[len] = digits[i];
        len += 1;
    }
    len
}

/// Parses `bytes` as an i64 only if formatting the result gives back exactly `bytes`:
/// no sign on zero, no leading zeros, no '+', no spaces, within i64 range.
pub fn parse_canonical_i64(bytes: &[u8]) -> Option<i64> {
    let (negative, digits) = match bytes.split_first()? {
        (b'-', rest) => (true, rest),
        _ => (false, bytes),
    };
    let first = *digits.first()?;
    if digits.len() > 19 || !first.is_ascii_digit() || (first == b'0' && bytes.len() > 1) {
        return None;
    }
    let mut magnitude: u64 = 0;
    for &b in digits {
        if !b.is_ascii_digit() {
            return None;
        }
        magnitude = magnitude * 10 + u64::from(b - b'0');
    }
    if negative {
        if magnitude > i64::MIN.unsigned_abs() {
            return None;
        }
        Some((magnitude as i64).wrapping_neg())
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// A key cell: inline when it fits (cheap hashing and comparison), else an integer when
/// canonical, else heap bytes. Keys never hold typed objects.
#[derive(Clone)]
pub struct CompactKey(Cell);

/// A value cell: an integer when canonical (INCR without parsing), else inline or heap bytes,
/// or a typed object.
#[derive(Clone)]
pub struct CompactValue(Cell);

const _: () = assert!(std::mem::size_of::<CompactKey>() == 16);
const _: () = assert!(std::mem::size_of::<CompactValue>() == 16);
const _: () = assert!(std::mem::size_of::<Option<(CompactKey, CompactValue)>>() == 32);

impl CompactKey {
    pub fn new(bytes: &[u8]) -> CompactKey {
        CompactKey(Cell::from_bytes_inline_first(bytes))
    }

    pub fn as_bytes(&self) -> CellBytes<'_> {
        self.0.as_bytes().expect("keys are strings")
    }

    pub fn to_vec(&self) -> Vec<u8> {
        self.as_bytes().to_vec()
    }

    pub fn len(&self) -> usize {
        self.0.str_len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn encoding(&self) -> Encoding {
        self.0.encoding()
    }

    pub fn heap_bytes(&self) -> usize {
        self.0.heap_bytes()
    }

    pub fn has_flag(&self, flag: u8) -> bool {
        self.0.has_flag(flag)
    }

    /// Flags do not take part in equality or hashing, so changing them in place is safe.
    pub fn set_flag(&mut self, flag: u8, on: bool) {
        self.0.set_flag(flag, on)
    }

    pub fn flags(&self) -> u8 {
        self.0.flags()
    }

    /// The five bits of the access clock the key holds (see [`CellFlags::KEY_CLOCK`]).
    #[inline]
    pub fn clock_bits(&self) -> u8 {
        let f = self.0.flags;
        ((f >> 2) & 1) | ((f >> 3) & 0x1e)
    }

    #[inline]
    pub fn set_clock_bits(&mut self, bits: u8) {
        let packed = ((bits & 1) << 2) | ((bits & 0x1e) << 3);
        self.0.flags = (self.0.flags & !CellFlags::KEY_CLOCK) | packed;
    }
}

impl CompactValue {
    pub fn from_bytes(bytes: &[u8]) -> CompactValue {
        CompactValue(Cell::from_bytes_int_first(bytes))
    }

    pub fn from_int(value: i64) -> CompactValue {
        CompactValue(Cell::int(value))
    }

    /// A memcached item: a plain string when `flags` and `cas` are 0 (no extra bytes), else
    /// a heap string carrying them (see [`CellFlags::MC_META`]).
    pub fn memcache_item(bytes: &[u8], flags: u32, cas: u64) -> CompactValue {
        if flags == 0 && cas == 0 {
            CompactValue::from_bytes(bytes)
        } else {
            CompactValue(Cell::heap_with_meta(bytes, flags, cas))
        }
    }

    /// memcached's (flags, cas) of this value: (0, 0) for plain strings (cas 0 = none
    /// assigned yet).
    pub fn mc_meta(&self) -> (u32, u64) {
        self.0.mc_meta().unwrap_or((0, 0))
    }

    /// Gives a string value the CAS unique `cas`, keeping its bytes and flags. False for
    /// typed objects.
    pub fn set_mc_cas(&mut self, cas: u64) -> bool {
        if self.0.has_flag(CellFlags::MC_META) {
            self.0.set_mc_cas(cas);
            return true;
        }
        let Some(bytes) = self.0.as_bytes() else {
            return false;
        };
        let item = Cell::heap_with_meta(&bytes, 0, cas);
        let kept = self.0.flags;
        self.0 = item;
        self.0.flags |= kept;
        true
    }

    pub fn from_object(object: Box<dyn TypedObject>) -> CompactValue {
        CompactValue(Cell::object(object))
    }

    pub fn obj_type(&self) -> ObjType {
        self.0.as_object().map_or(ObjType::String, |o| o.obj_type())
    }

    /// The string form; `None` for typed objects.
    pub fn as_bytes(&self) -> Option<CellBytes<'_>> {
        self.0.as_bytes()
    }

    pub fn to_vec(&self) -> Option<Vec<u8>> {
        self.as_bytes().map(|b| b.to_vec())
    }

    pub fn as_int(&self) -> Option<i64> {
        self.0.as_int()
    }

    /// Byte length of the string form (0 for typed objects).
    pub fn str_len(&self) -> usize {
        self.0.str_len()
    }

    pub fn as_object(&self) -> Option<&dyn TypedObject> {
        self.0.as_object()
    }

    pub fn as_object_mut(&mut self) -> Option<&mut dyn TypedObject> {
        self.0.as_object_mut()
    }

    /// The typed object as `T`; None for strings and objects of another type.
    pub fn downcast_ref<T: TypedObject>(&self) -> Option<&T> {
        self.as_object()?.as_any().downcast_ref::<T>()
    }

    /// The typed object as `T`, mutably; None for strings and objects of another type.
    pub fn downcast_mut<T: TypedObject>(&mut self) -> Option<&mut T> {
        self.as_object_mut()?.as_any_mut().downcast_mut::<T>()
    }

    /// The string's bytes for in-place writes, zero-extended to at least `min_len`;
    /// `None` for typed objects. See [`Cell::string_mut`].
    pub fn string_mut(&mut self, min_len: usize) -> Option<&mut [u8]> {
        self.0.string_mut(min_len)
    }

    /// Appends `tail` in place (amortized O(tail)); returns the new length, or `None` for
    /// typed objects.
    pub fn append(&mut self, tail: &[u8]) -> Option<usize> {
        let len = self.str_len();
        let bytes = self.0.string_mut(len + tail.len())?;
        bytes[len..].copy_from_slice(tail);
        Some(bytes.len())
    }

    pub fn encoding(&self) -> Encoding {
        self.0.encoding()
    }

    pub fn heap_bytes(&self) -> usize {
        self.0.heap_bytes()
    }

    pub fn has_flag(&self, flag: u8) -> bool {
        self.0.has_flag(flag)
    }

    pub fn set_flag(&mut self, flag: u8, on: bool) {
        self.0.set_flag(flag, on)
    }
}

impl Default for CompactValue {
    fn default() -> CompactValue {
        CompactValue(Cell::inline(b""))
    }
}

impl PartialEq for CompactKey {
    fn eq(&self, other: &CompactKey) -> bool {
        match (self.0.tag, other.0.tag) {
            // SAFETY: both tags are Int, so `word.int` is the active field of both.
            (Tag::Int, Tag::Int) => unsafe { self.0.word.int == other.0.word.int },
            _ => other.0.eq_bytes(&self.as_bytes()),
        }
    }
}
impl Eq for CompactKey {}

impl PartialEq<[u8]> for CompactKey {
    fn eq(&self, other: &[u8]) -> bool {
        self.0.eq_bytes(other)
    }
}

impl PartialEq<[u8]> for CompactValue {
    fn eq(&self, other: &[u8]) -> bool {
        self.0.eq_bytes(other)
    }
}

impl PartialEq for CompactValue {
    fn eq(&self, other: &CompactValue) -> bool {
        match (self.as_bytes(), other.as_bytes()) {
            (Some(a), Some(b)) => *a == *b,
            _ => false,
        }
    }
}

impl fmt::Debug for CompactKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Debug for CompactValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_integers_round_trip() {
        for s in [
            "0",
            "-1",
            "12345",
            "9223372036854775807",
            "-9223372036854775808",
        ] {
            let v = CompactValue::from_bytes(s.as_bytes());
            assert_eq!(v.encoding(), Encoding::Int, "{s}");
            assert_eq!(&*v.as_bytes().unwrap(), s.as_bytes());
            assert_eq!(v.str_len(), s.len());
        }
    }

    #[test]
    fn non_canonical_numbers_stay_strings() {
        for s in [
            "-0",
            "007",
            "+1",
            " 1",
            "1 ",
            "9223372036854775808",
            "-9223372036854775809",
            "",
            "-",
            "1a",
        ] {
            let v = CompactValue::from_bytes(s.as_bytes());
            assert_ne!(v.encoding(), Encoding::Int, "{s:?}");
            assert_eq!(&*v.as_bytes().unwrap(), s.as_bytes());
            assert_eq!(v.as_int(), None);
        }
    }

    #[test]
    fn inline_heap_boundary() {
        let s14 = [b'x'; 14];
        let s15 = [b'x'; 15];
        assert_eq!(CompactValue::from_bytes(&s14).encoding(), Encoding::Inline);
        assert_eq!(CompactValue::from_bytes(&s14).heap_bytes(), 0);
        let heap = CompactValue::from_bytes(&s15);
        assert_eq!(heap.encoding(), Encoding::Heap);
        assert_eq!(heap.heap_bytes(), 15);
        assert_eq!(heap.clone(), heap);
        assert!(heap == s15[..]);
    }

    #[test]
    fn keys_prefer_inline_and_compare_across_encodings() {
        let short = CompactKey::new(b"12345");
        assert_eq!(short.encoding(), Encoding::Inline);
        let long = CompactKey::new(b"123456789012345678");
        assert_eq!(long.encoding(), Encoding::Int);
        assert!(long == b"123456789012345678"[..]);
        assert!(long != b"0123456789012345678"[..]);
        assert_eq!(long, CompactKey::new(b"123456789012345678"));
        assert_ne!(long, CompactKey::new(b"123456789012345679"));
    }

    #[test]
    fn flags_survive_clone_and_do_not_change_equality() {
        let mut k = CompactKey::new(b"a-long-key-on-the-heap");
        k.set_flag(CellFlags::HAS_EXPIRY, true);
        let c = k.clone();
        assert!(c.has_flag(CellFlags::HAS_EXPIRY));
        assert_eq!(c, CompactKey::new(b"a-long-key-on-the-heap"));
        k.set_flag(CellFlags::HAS_EXPIRY, false);
        assert_eq!(k.flags(), 0);
    }

    struct Counter(Vec<u32>);
    impl TypedObject for Counter {
        fn obj_type(&self) -> ObjType {
            ObjType::List
        }
        fn heap_bytes(&self) -> usize {
            std::mem::size_of::<Self>() + self.0.capacity() * 4
        }
        fn clone_object(&self) -> Box<dyn TypedObject> {
            Box::new(Counter(self.0.clone()))
        }
        fn encoding_name(&self) -> &'static str {
            "counter"
        }
        fn len(&self) -> usize {
            self.0.len()
        }
        fn as_any(&self) -> &dyn Any {
            self
        }
        fn as_any_mut(&mut self) -> &mut dyn Any {
            self
        }
    }

    #[test]
    fn typed_objects_clone_mutate_and_account() {
        let mut v = CompactValue::from_object(Box::new(Counter(vec![1, 2, 3])));
        assert_eq!(v.obj_type(), ObjType::List);
        assert!(v.as_bytes().is_none());
        let c = v.clone();
        let list = v
            .as_object_mut()
            .unwrap()
            .as_any_mut()
            .downcast_mut::<Counter>()
            .unwrap();
        list.0.push(4);
        let original = c
            .as_object()
            .unwrap()
            .as_any()
            .downcast_ref::<Counter>()
            .unwrap();
        assert_eq!(original.0, vec![1, 2, 3]);
        assert!(v.heap_bytes() >= 16 + std::mem::size_of::<Counter>() + 16);
    }

    #[test]
    fn memcache_items_carry_flags_and_cas_only_when_set() {
        let plain = CompactValue::memcache_item(b"abc", 0, 0);
        assert_eq!(plain.encoding(), Encoding::Inline);
        assert_eq!(plain.mc_meta(), (0, 0));
        let item = CompactValue::memcache_item(b"abc", 7, 0);
        assert_eq!(
            (item.mc_meta(), &*item.as_bytes().unwrap()),
            ((7, 0), &b"abc"[..])
        );
        assert_eq!(item.heap_bytes(), 3 + MC_META_LEN);
        let mut copy = item.clone();
        assert!(copy.set_mc_cas(99));
        assert_eq!(copy.mc_meta(), (7, 99));
        assert_eq!(item.mc_meta(), (7, 0));
        // A Redis write in place drops the metadata.
        copy.append(b"de");
        assert_eq!(
            (copy.mc_meta(), &*copy.as_bytes().unwrap()),
            ((0, 0), &b"abcde"[..])
        );
        let mut int = CompactValue::from_bytes(b"12");
        assert!(int.set_mc_cas(5));
        assert_eq!(
            (int.mc_meta(), &*int.as_bytes().unwrap()),
            ((0, 5), &b"12"[..])
        );
        // set_flag cannot forge the metadata bit; other flags survive.
        let mut v = CompactValue::from_bytes(b"x");
        v.set_flag(CellFlags::MC_META | CellFlags::MC_WON, true);
        assert_eq!(v.mc_meta(), (0, 0));
        assert!(v.has_flag(CellFlags::MC_WON));
        let big = vec![b'z'; 100];
        let mut item = CompactValue::memcache_item(&big, u32::MAX, u64::MAX);
        assert_eq!(item.mc_meta(), (u32::MAX, u64::MAX));
        item.string_mut(10).unwrap()[0] = b'a';
        assert_eq!(item.mc_meta(), (0, 0));
        assert_eq!(item.str_len(), 100);
    }

    #[test]
    fn appends_grow_in_place_with_power_of_two_capacity() {
        let mut v = CompactValue::from_bytes(b"ab");
        let mut model = b"ab".to_vec();
        for i in 0..3000u32 {
            let piece = format!("<{i}>");
            model.extend_from_slice(piece.as_bytes());
            assert_eq!(v.append(piece.as_bytes()), Some(model.len()));
        }
        assert_eq!(&*v.as_bytes().unwrap(), &model[..]);
        assert_eq!(v.encoding(), Encoding::Heap);
        assert_eq!(v.heap_bytes(), model.len().next_power_of_two());
        let copy = v.clone();
        assert_eq!(copy.heap_bytes(), model.len(), "clones are exact");
        assert_eq!(copy, v);
    }

    #[test]
    fn string_mut_zero_extends_every_encoding() {
        let mut int = CompactValue::from_int(-42);
        assert_eq!(int.string_mut(5).unwrap(), b"-42\0\0");
        assert_eq!(int.encoding(), Encoding::Heap);

        let mut inline = CompactValue::from_bytes(b"abc");
        inline.string_mut(2).unwrap()[0] = b'X';
        assert_eq!(&*inline.as_bytes().unwrap(), b"Xbc");
        assert_eq!(inline.string_mut(10).unwrap(), b"Xbc\0\0\0\0\0\0\0");
        assert_eq!(inline.encoding(), Encoding::Inline);
        assert_eq!(inline.string_mut(20).unwrap().len(), 20);
        assert_eq!(inline.encoding(), Encoding::Heap);
        assert_eq!(&inline.as_bytes().unwrap()[..4], b"Xbc\0");

        let long = vec![7u8; 100];
        let mut heap = CompactValue::from_bytes(&long);
        assert_eq!(heap.heap_bytes(), 100);
        heap.string_mut(50).unwrap()[49] = 1;
        assert_eq!(heap.heap_bytes(), 100, "no growth within the length");
        let bytes = heap.string_mut(1000).unwrap();
        assert_eq!(bytes.len(), 1000);
        assert!(bytes[100..].iter().all(|b| *b == 0));
        assert_eq!(bytes[49], 1);
        assert_eq!(heap.heap_bytes(), 1024);

        let mut object = CompactValue::from_object(Box::new(Counter(vec![1])));
        assert!(object.string_mut(1).is_none());
        assert!(object.append(b"x").is_none());
    }
}
