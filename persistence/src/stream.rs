//! Streams in RDB: `STREAM_LISTPACKS_2` (what redis-server 7.0 writes) both ways, and
//! `STREAM_LISTPACKS` (Redis 5/6) and `STREAM_LISTPACKS_3` (Redis 7.2, consumers' active
//! time) when reading.
//!
//! Body: listpack count, then per node its 16-byte big-endian master id and a listpack of
//! `count, deleted, master-field-count, master fields..., 0` followed by entries
//! `flags, ms-delta, seq-delta, [field-count, field, value...| values...], lp-count`; then
//! length, last id, (v2+: first id, max deleted id, entries added), and the groups with
//! their PELs (raw 16-byte ids, ms times as 8 bytes LE) and consumers. Damselfly writes one
//! listpack per node with its live entries only and no master fields, which Redis loads.

use crate::encoding::{
    types, write_len, write_string, write_string_with, RdbError, RdbResult, Reader,
};
use crate::listpack::{entries, Entry, LpWriter};
use crate::lzf::Compressor;
use damselfly_shards::stream::{NodeLimits, ENTRIES_READ_INVALID};
use damselfly_shards::stream_group::{Group, Pending};
use damselfly_shards::{CompactValue, Stream, StreamId};

/// Redis 7.2's type (consumers carry an active time too).
pub const STREAM_LISTPACKS_3: u8 = 21;

const FLAG_DELETED: i64 = 1;
const FLAG_SAMEFIELDS: i64 = 2;

const BAD: RdbError = RdbError::Corrupt("stream listpack integrity check failed");

fn raw_id(b: &[u8]) -> StreamId {
    let mut ms = [0u8; 8];
    let mut seq = [0u8; 8];
    ms.copy_from_slice(&b[..8]);
    seq.copy_from_slice(&b[8..16]);
    StreamId::new(u64::from_be_bytes(ms), u64::from_be_bytes(seq))
}

fn id_bytes(id: StreamId) -> [u8; 16] {
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&id.ms.to_be_bytes());
    out[8..].copy_from_slice(&id.seq.to_be_bytes());
    out
}

fn int(e: Option<&Entry<'_>>) -> RdbResult<i64> {
    match e {
        Some(Entry::Int(v)) => Ok(*v),
        Some(Entry::Str(s)) => std::str::from_utf8(s)
            .ok()
            .and_then(|t| t.parse().ok())
            .ok_or(BAD),
        None => Err(BAD),
    }
}

fn ms_time(r: &mut Reader<'_>) -> RdbResult<u64> {
    let b = r.take(8)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    Ok(i64::from_le_bytes(a) as u64)
}

/// Appends the live entries of one node's listpack to `st`, checking its structure.
fn load_node(st: &mut Stream, master: StreamId, blob: &[u8], limits: NodeLimits) -> RdbResult<()> {
    let items = entries(blob)?;
    let mut it = items.iter();
    let count = int(it.next())?;
    let deleted = int(it.next())?;
    let master_fields = int(it.next())?;
    if count < 0 || deleted < 0 || master_fields < 0 {
        return Err(BAD);
    }
    let mut fields: Vec<Vec<u8>> = Vec::new();
    for _ in 0..master_fields {
        fields.push(it.next().ok_or(BAD)?.to_vec());
    }
    if int(it.next())? != 0 {
        return Err(BAD);
    }
    let mut live = 0;
    for _ in 0..count.saturating_add(deleted) {
        let flags = int(it.next())?;
        let ms = master.ms.wrapping_add(int(it.next())? as u64);
        let seq = master.seq.wrapping_add(int(it.next())? as u64);
        let id = StreamId::new(ms, seq);
        let mut strings: Vec<Vec<u8>> = Vec::new();
        let n = if flags & FLAG_SAMEFIELDS != 0 {
            for f in &fields {
                strings.push(f.clone());
                strings.push(it.next().ok_or(BAD)?.to_vec());
            }
            master_fields
        } else {
            let n = int(it.next())?;
            if n < 0 {
                return Err(BAD);
            }
            for _ in 0..n.saturating_mul(2) {
                strings.push(it.next().ok_or(BAD)?.to_vec());
            }
            n
        };
        let extra = if flags & FLAG_SAMEFIELDS != 0 {
            3
        } else {
            4 + n
        };
        if int(it.next())? != n.saturating_add(extra) {
            return Err(BAD);
        }
        if flags & FLAG_DELETED != 0 {
            continue;
        }
        if id < master || (!st.is_empty() && id <= st.last_id) {
            return Err(RdbError::Corrupt("stream entries out of order"));
        }
        let refs: Vec<&[u8]> = strings.iter().map(Vec::as_slice).collect();
        st.append(id, &refs, limits);
        live += 1;
    }
    if it.next().is_some() || live != count {
        return Err(BAD);
    }
    Ok(())
}

/// Reads a stream of RDB type `t` (15, 19 or 21).
pub fn read_stream(r: &mut Reader<'_>, t: u8, limits: NodeLimits) -> RdbResult<CompactValue> {
    let v2 = t != types::STREAM_LISTPACKS;
    let mut st = Stream::new();
    let nodes = r.count(2)?;
    let mut last_master = None;
    for _ in 0..nodes {
        let key = r.string()?;
        if key.len() != 16 {
            return Err(RdbError::Corrupt(
                "stream node key is not the size of a stream ID",
            ));
        }
        let master = raw_id(&key);
        if last_master.is_some_and(|m| m >= master) {
            return Err(RdbError::Corrupt("stream nodes out of order"));
        }
        last_master = Some(master);
        let blob = r.string()?;
        load_node(&mut st, master, &blob, limits)?;
    }
    let length = r.length()?;
    if length != st.len() {
        return Err(RdbError::Corrupt(
            "stream length inconsistent with its entries",
        ));
    }
    let last = StreamId::new(r.length()?, r.length()?);
    if !st.is_empty() && last < st.last_id {
        return Err(RdbError::Corrupt("stream last id below its top entry"));
    }
    st.last_id = last;
    if v2 {
        st.first_id = StreamId::new(r.length()?, r.length()?);
        st.max_deleted_id = StreamId::new(r.length()?, r.length()?);
        st.entries_added = r.length()?;
    } else {
        st.entries_added = st.len();
        st.first_id = st.edge_id(false).unwrap_or(StreamId::MAX);
        st.max_deleted_id = StreamId::MIN;
    }
    let groups = r.count(1)?;
    for _ in 0..groups {
        let name = r.string()?.into_owned();
        let last_id = StreamId::new(r.length()?, r.length()?);
        let entries_read = if v2 {
            r.length()? as i64
        } else {
            st.entries_until(last_id)
                .map_or(ENTRIES_READ_INVALID, |n| n as i64)
        };
        let mut g = Group::new(last_id, entries_read);
        for _ in 0..r.count(17)? {
            let id = raw_id(r.take(16)?);
            let delivery_time = ms_time(r)?;
            let delivery_count = r.length()?;
            let p = Pending {
                consumer: (&[][..]).into(),
                delivery_time,
                delivery_count,
            };
            if g.pel.insert(id, p).is_some() {
                return Err(RdbError::Corrupt("duplicated global PEL entry"));
            }
        }
        let mut owned = 0;
        for _ in 0..r.count(1)? {
            let cname = r.string()?.into_owned();
            let seen = ms_time(r)?;
            if t == STREAM_LISTPACKS_3 {
                ms_time(r)?; // active time: Redis 7.0's consumers have none
            }
            if !g.create_consumer(&cname, seen) {
                return Err(RdbError::Corrupt("duplicate stream consumer"));
            }
            for _ in 0..r.count(16)? {
                let id = raw_id(r.take(16)?);
                let Some(p) = g.pel.get_mut(&id) else {
                    return Err(RdbError::Corrupt("consumer PEL entry not in the group PEL"));
                };
                if !p.consumer.is_empty() || cname.is_empty() {
                    return Err(RdbError::Corrupt("PEL entry owned twice"));
                }
                p.consumer = cname.as_slice().into();
                owned += 1;
                g.consumers
                    .get_mut(cname.as_slice())
                    .expect("created")
                    .pel
                    .insert(id);
            }
        }
        if owned != g.pel.len() {
            return Err(RdbError::Corrupt("stream group PEL entry without consumer"));
        }
        if st.groups.insert(name.into(), g).is_some() {
            return Err(RdbError::Corrupt("duplicated consumer group name"));
        }
    }
    Ok(CompactValue::from_object(Box::new(st)))
}

/// Writes `st` as `STREAM_LISTPACKS_2`.
pub fn write_stream(out: &mut Vec<u8>, st: &Stream, z: &mut Compressor) {
    out.push(types::STREAM_LISTPACKS_2);
    write_len(out, st.live_node_count() as u64);
    for (master, live, entries) in st.live_nodes_after(None) {
        let mut node = StreamNode::new(master, live);
        for e in entries {
            node.entry(e.id, e.pair_count(), e.strings());
        }
        node.finish(out, z);
    }
    write_stream_tail(out, st, z);
}

/// One stream node as RDB stores it, built entry by entry: the listpack of `live` entries
/// after master id `master`.
pub(crate) struct StreamNode {
    master: StreamId,
    lp: LpWriter,
    left: usize,
}

impl StreamNode {
    pub(crate) fn new(master: StreamId, live: usize) -> StreamNode {
        let mut lp = LpWriter::new();
        for v in [live as i64, 0, 0, 0] {
            lp.push_int(v);
        }
        StreamNode {
            master,
            lp,
            left: live,
        }
    }

    /// Adds an entry of `pairs` field/value pairs (`strings`: fields and values alternating).
    pub(crate) fn entry<'a>(
        &mut self,
        id: StreamId,
        pairs: usize,
        strings: impl Iterator<Item = &'a [u8]>,
    ) {
        let lp = &mut self.lp;
        lp.push_int(0);
        lp.push_int(id.ms.wrapping_sub(self.master.ms) as i64);
        lp.push_int(id.seq.wrapping_sub(self.master.seq) as i64);
        lp.push_int(pairs as i64);
        for s in strings {
            lp.push(s);
        }
        lp.push_int(pairs as i64 * 2 + 4);
        self.left -= 1;
    }

    /// Appends the node: its master id and listpack.
    pub(crate) fn finish(self, out: &mut Vec<u8>, z: &mut Compressor) {
        assert_eq!(self.left, 0, "a stream node's live count is its entries");
        write_string(out, &id_bytes(self.master));
        write_string_with(out, &self.lp.finish(), z);
    }
}

/// Appends what follows a stream's nodes: its length, ids, counters and consumer groups.
pub(crate) fn write_stream_tail(out: &mut Vec<u8>, st: &Stream, z: &mut Compressor) {
    write_len(out, st.len());
    for v in [
        st.last_id.ms,
        st.last_id.seq,
        st.first_id.ms,
        st.first_id.seq,
        st.max_deleted_id.ms,
        st.max_deleted_id.seq,
        st.entries_added,
    ] {
        write_len(out, v);
    }
    write_len(out, st.groups.len() as u64);
    for (name, g) in &st.groups {
        write_string_with(out, name, z);
        write_len(out, g.last_id.ms);
        write_len(out, g.last_id.seq);
        write_len(out, g.entries_read as u64);
        write_len(out, g.pel.len() as u64);
        for (id, p) in &g.pel {
            out.extend_from_slice(&id_bytes(*id));
            out.extend_from_slice(&(p.delivery_time as i64).to_le_bytes());
            write_len(out, p.delivery_count);
        }
        write_len(out, g.consumers.len() as u64);
        for (cname, c) in &g.consumers {
            write_string_with(out, cname, z);
            out.extend_from_slice(&(c.seen_time as i64).to_le_bytes());
            write_len(out, c.pel.len() as u64);
            for id in &c.pel {
                out.extend_from_slice(&id_bytes(*id));
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::dump::{dump, restore};
    use damselfly_shards::CollectionLimits;

    fn sample() -> Stream {
        let limits = NodeLimits {
            max_bytes: 0,
            max_entries: 3,
        };
        let mut st = Stream::new();
        for i in 1..=8u64 {
            let v = i.to_string();
            st.append(
                StreamId::new(i, i % 2),
                &[b"field", v.as_bytes(), b"", b"x"],
                limits,
            );
        }
        st.delete(&[
            StreamId::new(2, 0),
            StreamId::new(4, 0),
            StreamId::new(5, 1),
        ]);
        let mut g = Group::new(StreamId::new(6, 0), 5);
        g.create_consumer(b"alice", 1000);
        g.create_consumer(b"bob", 2000);
        g.deliver(StreamId::new(1, 1), b"alice", 1500, Some(3));
        g.deliver(StreamId::new(6, 0), b"bob", 2500, None);
        st.groups.insert(Box::from(&b"g"[..]), g);
        st.groups.insert(
            Box::from(&b"empty"[..]),
            Group::new(StreamId::MIN, ENTRIES_READ_INVALID),
        );
        st.last_id = StreamId::new(9, 9);
        st
    }

    /// A stream with deleted entries, several nodes and two groups, as a value.
    pub(crate) fn sample_value() -> CompactValue {
        CompactValue::from_object(Box::new(sample()))
    }

    fn entries(st: &Stream) -> Vec<(StreamId, Vec<Vec<u8>>)> {
        let mut out = Vec::new();
        st.range(StreamId::MIN, StreamId::MAX, false, |e| {
            out.push((e.id, e.strings().map(<[u8]>::to_vec).collect()));
            true
        });
        out
    }

    #[test]
    fn round_trip_keeps_entries_counters_and_groups() {
        let st = sample();
        let payload = dump(&CompactValue::from_object(Box::new(st.clone()))).unwrap();
        assert_eq!(payload[0], types::STREAM_LISTPACKS_2);
        let back = restore(&payload, &CollectionLimits::default()).unwrap();
        let back = back.downcast_ref::<Stream>().unwrap();
        assert_eq!(entries(back), entries(&st));
        assert_eq!(back.len(), 5);
        assert_eq!(
            (
                back.last_id,
                back.first_id,
                back.max_deleted_id,
                back.entries_added
            ),
            (st.last_id, st.first_id, st.max_deleted_id, st.entries_added)
        );
        let (g, want) = (&back.groups[&b"g"[..]], &st.groups[&b"g"[..]]);
        assert_eq!(
            (g.last_id, g.entries_read),
            (want.last_id, want.entries_read)
        );
        assert_eq!(g.pel, want.pel);
        assert_eq!(
            g.consumers[&b"bob"[..]].pel,
            want.consumers[&b"bob"[..]].pel
        );
        assert_eq!(g.consumers[&b"alice"[..]].seen_time, 1000);
        assert_eq!(
            back.groups[&b"empty"[..]].entries_read,
            ENTRIES_READ_INVALID
        );
    }

    #[test]
    fn every_cut_is_refused_not_a_panic() {
        let payload = dump(&CompactValue::from_object(Box::new(sample()))).unwrap();
        let body = &payload[..payload.len() - 10];
        for cut in 1..body.len() {
            let _ = read_stream(
                &mut Reader::new(&body[1..cut]),
                types::STREAM_LISTPACKS_2,
                NodeLimits::default(),
            );
        }
    }
}
