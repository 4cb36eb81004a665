//! Serializing a value in the encodings redis-server 7.0 writes for RDB version 10:
//!
//! | value                      | RDB type            | body                                  |
//! |----------------------------|---------------------|---------------------------------------|
//! | string                     | STRING              | string (int, LZF or plain)            |
//! | list                       | LIST_QUICKLIST_2    | nodes: container + listpack blob       |
//! | set, intset                | SET_INTSET          | intset blob                           |
//! | set, listpack or hashtable | SET                 | count + members (7.0 has no listpack set) |
//! | hash, listpack             | HASH_LISTPACK       | listpack of field, value pairs        |
//! | hash, hashtable            | HASH                | count + field, value pairs            |
//! | zset, listpack             | ZSET_LISTPACK       | listpack of member, score pairs       |
//! | zset, skiplist             | ZSET_2              | count + (member, binary double), highest first |
//! | stream                     | STREAM_LISTPACKS_2  | see `stream.rs`                       |

use crate::encoding::{
    types, write_binary_double, write_int_string, write_len, write_string, write_string_with,
    RdbError, RdbResult, QUICKLIST_NODE_PACKED, QUICKLIST_NODE_PLAIN,
};
use crate::legacy::intset_blob;
use crate::listpack::LpWriter;
use crate::lzf::Compressor;
use damselfly_shards::listpack::LpValue;
use damselfly_shards::set_value::SetMember;
use damselfly_shards::zset::ZSetValue;
use damselfly_shards::{CompactValue, HashValue, ObjType, QuickList, SetValue};

/// An element this large goes in a plain node of its own (Redis's packed threshold).
const PLAIN_NODE_MIN: usize = 1 << 30;

/// Appends the RDB type byte and the body of `value`.
pub fn write_value(out: &mut Vec<u8>, value: &CompactValue) -> RdbResult<()> {
    if let Some(bytes) = value.as_bytes() {
        out.push(types::STRING);
        match value.as_int() {
            Some(v) => write_int_string(out, v),
            None => write_string(out, &bytes),
        }
        return Ok(());
    }
    // One match table for all the strings of a collection.
    let z = &mut Compressor::new();
    if let Some(list) = value.downcast_ref::<QuickList>() {
        write_list(out, list, z);
    } else if let Some(set) = value.downcast_ref::<SetValue>() {
        write_set(out, set, z);
    } else if let Some(hash) = value.downcast_ref::<HashValue>() {
        write_hash(out, hash, z);
    } else if let Some(zset) = value.downcast_ref::<ZSetValue>() {
        write_zset(out, zset, z);
    } else if let Some(stream) = value.downcast_ref::<damselfly_shards::Stream>() {
        crate::stream::write_stream(out, stream, z);
    } else {
        let t = match value.obj_type() {
            ObjType::Stream => types::STREAM_LISTPACKS_2,
            _ => u8::MAX,
        };
        return Err(RdbError::Unsupported(t));
    }
    Ok(())
}

pub(crate) fn lp_push(w: &mut LpWriter, v: LpValue<'_>) {
    match v {
        LpValue::Int(i) => w.push_int(i),
        LpValue::Str(s) => w.push(s),
    }
}

/// Writes the list as Redis does, one RDB node per node of the list: the node count up front,
/// then each node (so a list can also be written node by node: `crate::pieces`).
fn write_list(out: &mut Vec<u8>, list: &QuickList, z: &mut Compressor) {
    out.push(types::LIST_QUICKLIST_2);
    write_len(out, list.node_count() as u64);
    for i in 0..list.node_count() {
        write_list_node(out, list, i, z);
    }
}

/// Appends node `i` of `list` (container, then its listpack blob, or the element of a node
/// holding one element too large for a listpack node in Redis) and returns its element count.
pub(crate) fn write_list_node(
    out: &mut Vec<u8>,
    list: &QuickList,
    i: usize,
    z: &mut Compressor,
) -> usize {
    let mut w = LpWriter::new();
    let mut huge = false;
    let n = list.scan_node(i, |v| {
        huge |= matches!(v, LpValue::Str(s) if is_plain_element(s));
        lp_push(&mut w, v);
    });
    if huge && n == 1 {
        list.scan_node(i, |v| write_list_plain(out, v.as_bytes(&mut [0; 20]), z));
    } else {
        write_list_listpack(out, w, z);
    }
    n
}

/// Appends a packed node: its container and the listpack `w` built.
pub(crate) fn write_list_listpack(out: &mut Vec<u8>, w: LpWriter, z: &mut Compressor) {
    write_len(out, QUICKLIST_NODE_PACKED);
    write_string_with(out, &w.finish(), z);
}

/// Appends a plain node holding `element`.
pub(crate) fn write_list_plain(out: &mut Vec<u8>, element: &[u8], z: &mut Compressor) {
    write_len(out, QUICKLIST_NODE_PLAIN);
    write_string_with(out, element, z);
}

/// True when a node holding only `element` is written plain (Redis's packed threshold).
pub(crate) fn is_plain_element(element: &[u8]) -> bool {
    element.len() >= PLAIN_NODE_MIN
}

fn write_set(out: &mut Vec<u8>, set: &SetValue, z: &mut Compressor) {
    if set.encoding() == "intset" {
        let mut members = Vec::with_capacity(set.len());
        set.for_each(|m| {
            if let SetMember::Int(v) = m {
                members.push(v);
            }
        });
        debug_assert_eq!(members.len(), set.len(), "an intset holds integers only");
        members.sort_unstable();
        out.push(types::SET_INTSET);
        write_string_with(out, &intset_blob(&members), z);
        return;
    }
    out.push(types::SET);
    write_len(out, set.len() as u64);
    set.for_each(|m| match m {
        SetMember::Int(v) => write_int_string(out, v),
        SetMember::Str(s) => write_string_with(out, s, z),
    });
}

fn write_lp_value(out: &mut Vec<u8>, v: LpValue<'_>, z: &mut Compressor) {
    match v {
        LpValue::Int(i) => write_int_string(out, i),
        LpValue::Str(s) => write_string_with(out, s, z),
    }
}

fn write_hash(out: &mut Vec<u8>, hash: &HashValue, z: &mut Compressor) {
    if hash.is_packed() {
        let mut w = LpWriter::new();
        for (f, v) in hash.iter() {
            lp_push(&mut w, f);
            lp_push(&mut w, v);
        }
        out.push(types::HASH_LISTPACK);
        write_string_with(out, &w.finish(), z);
        return;
    }
    out.push(types::HASH);
    write_len(out, hash.len() as u64);
    for (f, v) in hash.iter() {
        write_lp_value(out, f, z);
        write_lp_value(out, v, z);
    }
}

/// A score as listpack text, the way Redis stores it: integral values as integers (the
/// listpack then packs them), others in the shortest text that reads back exactly.
fn push_score(w: &mut LpWriter, score: f64) {
    const EXACT_INT_MAX: f64 = (1u64 << 53) as f64;
    if score.fract() == 0.0
        && score.abs() < EXACT_INT_MAX
        && !(score == 0.0 && score.is_sign_negative())
    {
        w.push_int(score as i64);
    } else {
        w.push(format_score(score).as_bytes());
    }
}

/// Shortest round-trip text of a double that strtod reads back (`inf`, `-inf`, `1.5`, `1e300`).
pub fn format_score(score: f64) -> String {
    if score.is_infinite() {
        return if score > 0.0 {
            "inf".into()
        } else {
            "-inf".into()
        };
    }
    if score == 0.0 {
        return if score.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let plain = format!("{score}");
    let exp = format!("{score:e}");
    if plain.len() <= exp.len() {
        plain
    } else {
        exp
    }
}

fn write_zset(out: &mut Vec<u8>, zset: &ZSetValue, z: &mut Compressor) {
    let n = zset.len();
    if zset.is_packed() {
        let mut w = LpWriter::new();
        zset.walk(0, n, false, |m, score| {
            w.push(m);
            push_score(&mut w, score);
            true
        });
        out.push(types::ZSET_LISTPACK);
        write_string_with(out, &w.finish(), z);
        return;
    }
    out.push(types::ZSET_2);
    write_len(out, n as u64);
    // Highest first, as Redis walks its skiplist from the tail: the loader then inserts
    // every member at the head.
    zset.walk(0, n, true, |m, score| {
        write_string_with(out, m, z);
        write_binary_double(out, score);
        true
    });
}
