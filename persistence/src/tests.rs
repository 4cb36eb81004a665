//! Round trips of every type and encoding (random value -> payload -> value, equal contents
//! and the same encoding), the older encodings built by hand, and corruption never panicking.

use crate::dump::{dump, restore, seal, verify};
use crate::encoding::{types, write_len, write_string, RdbError};
use crate::legacy::{intset_blob, ziplist_blob as ziplist};
use crate::listpack::{Entry, LpWriter};
use crate::RDB_VERSION;
use damselfly_shards::zset::ZSetValue;
use damselfly_shards::{CollectionLimits, CompactValue, HashValue, QuickList, SetValue};
use proptest::prelude::*;

/// A value's contents in a form that compares equal across encodings, and its encoding.
#[derive(Debug, PartialEq)]
enum Contents {
    Str(Vec<u8>),
    List(Vec<Vec<u8>>),
    Set(Vec<Vec<u8>>),
    Hash(Vec<(Vec<u8>, Vec<u8>)>),
    ZSet(Vec<(Vec<u8>, u64)>),
}

fn contents(v: &CompactValue) -> (Contents, &'static str) {
    if let Some(b) = v.as_bytes() {
        return (Contents::Str(b.to_vec()), "string");
    }
    let enc = v.as_object().unwrap().encoding_name();
    let c = if let Some(l) = v.downcast_ref::<QuickList>() {
        Contents::List(l.to_vec())
    } else if let Some(s) = v.downcast_ref::<SetValue>() {
        let mut m = s.to_vecs();
        m.sort();
        Contents::Set(m)
    } else if let Some(h) = v.downcast_ref::<HashValue>() {
        let mut p: Vec<_> = h.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect();
        p.sort();
        Contents::Hash(p)
    } else if let Some(z) = v.downcast_ref::<ZSetValue>() {
        Contents::ZSet(
            z.to_pairs()
                .into_iter()
                .map(|(m, s)| (m, (s + 0.0).to_bits()))
                .collect(),
        )
    } else {
        unreachable!()
    };
    (c, enc)
}

fn round_trip(v: &CompactValue) {
    let limits = CollectionLimits::default();
    let payload = dump(v).unwrap();
    assert!(verify(&payload), "own payload verifies");
    let back = restore(&payload, &limits).unwrap();
    assert_eq!(contents(&back), contents(v));
}

fn member() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => any::<i64>().prop_map(|v| v.to_string().into_bytes()),
        4 => (0u32..1000).prop_map(|v| format!("m{v}").into_bytes()),
        1 => prop::collection::vec(any::<u8>(), 0..90),
        1 => (60usize..70).prop_map(|n| vec![b'l'; n]),
    ]
}

fn string_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        any::<i64>().prop_map(|v| v.to_string().into_bytes()),
        any::<i32>().prop_map(|v| v.to_string().into_bytes()),
        prop::collection::vec(any::<u8>(), 0..100),
        (0usize..20000).prop_map(|n| (0..n)
            .map(|i| b"abcdefgh"[i % 7 + (i / 3000) % 2])
            .collect()),
    ]
}

fn score() -> impl Strategy<Value = f64> {
    prop_oneof![
        (-1000i64..1000).prop_map(|v| v as f64),
        any::<f64>().prop_filter("not NaN", |f| !f.is_nan()),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        (-1e6f64..1e6),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn strings(s in string_value()) {
        round_trip(&CompactValue::from_bytes(&s));
    }

    #[test]
    fn lists(items in prop::collection::vec(string_value(), 1..40), n in 1usize..2000, fill in prop::sample::select(vec![-2i64, -1, 3, 128]), depth in 0usize..2) {
        // Any node size and compression of the source list: the payload holds the elements.
        let mut l = QuickList::with_options(fill, depth);
        for i in 0..n.max(items.len()) {
            l.push(&items[i % items.len()], i % 3 == 0);
        }
        round_trip(&CompactValue::from_object(Box::new(l)));
    }

    #[test]
    fn sets(ints in prop::collection::vec(any::<i64>(), 0..600), small in prop::collection::vec(-100i64..100, 0..10), strs in prop::collection::vec(member(), 0..200), take_strs in any::<bool>()) {
        let limits = CollectionLimits::default();
        let mut members: Vec<Vec<u8>> = ints.iter().chain(&small).map(|v| v.to_string().into_bytes()).collect();
        if take_strs {
            members.extend(strs);
        }
        members.push(b"1".to_vec());
        round_trip(&CompactValue::from_object(Box::new(SetValue::from_members(&members, &limits))));
    }

    #[test]
    fn hashes(pairs in prop::collection::vec((member(), string_value()), 1..600)) {
        let limits = CollectionLimits::default();
        let mut h = HashValue::new();
        for (f, v) in &pairs {
            h.set(f, v, &limits);
        }
        round_trip(&CompactValue::from_object(Box::new(h)));
    }

    #[test]
    fn zsets(members in prop::collection::vec((member(), score()), 1..300)) {
        let limits = CollectionLimits::default();
        let mut z = ZSetValue::new();
        for (m, s) in &members {
            z.insert(m, *s, &limits);
        }
        round_trip(&CompactValue::from_object(Box::new(z)));
    }

    #[test]
    fn corruption_never_panics(pairs in prop::collection::vec((member(), string_value()), 1..20), at in any::<prop::sample::Index>(), bit in 0u8..8, kind in 0u8..4) {
        let limits = CollectionLimits::default();
        let v = match kind {
            0 => {
                let mut h = HashValue::new();
                for (f, v) in &pairs { h.set(f, v, &limits); }
                CompactValue::from_object(Box::new(h))
            }
            1 => CompactValue::from_object(Box::new(SetValue::from_members(pairs.iter().map(|p| &p.0), &limits))),
            2 => {
                let mut l = QuickList::new(&limits);
                for (f, _) in &pairs { l.push(f, false); }
                CompactValue::from_object(Box::new(l))
            }
            _ => {
                let mut z = ZSetValue::new();
                for (i, (m, _)) in pairs.iter().enumerate() { z.insert(m, i as f64 * 0.5, &limits); }
                CompactValue::from_object(Box::new(z))
            }
        };
        let payload = dump(&v).unwrap();
        let mut body = payload[..payload.len() - 10].to_vec();
        let i = at.index(body.len());
        body[i] ^= 1 << bit;
        let _ = restore(&body, &limits);
        let _ = restore(&body[..i], &limits);
        // A flipped bit anywhere in a payload fails its checksum.
        let mut flipped = payload.clone();
        let j = at.index(flipped.len());
        flipped[j] ^= 1 << bit;
        prop_assert!(!verify(&flipped));
    }
}

fn body(t: u8, fill: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut out = vec![t];
    fill(&mut out);
    out
}

fn load(b: &[u8]) -> Result<(Contents, &'static str), RdbError> {
    let v = restore(b, &CollectionLimits::default())?;
    let (c, e) = contents(&v);
    Ok((c, e))
}

fn strs(items: &[&str]) -> Vec<Vec<u8>> {
    items.iter().map(|s| s.as_bytes().to_vec()).collect()
}

#[test]
fn footer_version_and_checksum() {
    let mut p = dump(&CompactValue::from_bytes(b"hello")).unwrap();
    assert_eq!(&p[p.len() - 10..p.len() - 8], &RDB_VERSION.to_le_bytes());
    assert!(verify(&p));
    assert!(!verify(&p[..9]));
    // A newer version is refused even with a valid checksum.
    let mut newer = p[..p.len() - 10].to_vec();
    newer.extend_from_slice(&(RDB_VERSION + 1).to_le_bytes());
    let crc = crate::crc64::crc64(0, &newer);
    newer.extend_from_slice(&crc.to_le_bytes());
    assert!(!verify(&newer));
    // An older version is read.
    let mut older = p[..p.len() - 10].to_vec();
    older.extend_from_slice(&9u16.to_le_bytes());
    let crc = crate::crc64::crc64(0, &older);
    older.extend_from_slice(&crc.to_le_bytes());
    assert!(verify(&older));
    let n = p.len();
    p[n - 1] ^= 0x80;
    assert!(!verify(&p));
}

#[test]
fn dump_bytes_match_redis() {
    // DUMP of SET k hello / SET k 123 in redis-server 7.0.
    assert_eq!(
        dump(&CompactValue::from_bytes(b"hello")).unwrap()[..7],
        [0, 5, b'h', b'e', b'l', b'l', b'o']
    );
    assert_eq!(
        dump(&CompactValue::from_bytes(b"123")).unwrap()[..3],
        [0, 0xc0, 123]
    );
    let mut sealed = vec![0, 0xc0, 123];
    seal(&mut sealed);
    assert_eq!(sealed, dump(&CompactValue::from_bytes(b"123")).unwrap());
}

#[test]
fn old_list_encodings() {
    let want = Contents::List(strs(&["a", "7", "-300", "hello"]));
    let items = [
        Entry::Str(b"a"),
        Entry::Int(7),
        Entry::Int(-300),
        Entry::Str(b"hello"),
    ];
    let plain = body(types::LIST, |o| {
        write_len(o, 4);
        for s in ["a", "7", "-300", "hello"] {
            write_string(o, s.as_bytes());
        }
    });
    assert_eq!(load(&plain).unwrap().0, want);
    let zl = body(types::LIST_ZIPLIST, |o| write_string(o, &ziplist(&items)));
    assert_eq!(load(&zl).unwrap().0, want);
    let ql = body(types::LIST_QUICKLIST, |o| {
        write_len(o, 3);
        write_string(o, &ziplist(&items[..1]));
        write_string(o, &ziplist(&[]));
        write_string(o, &ziplist(&items[1..]));
    });
    assert_eq!(load(&ql).unwrap().0, want);
    // Quicklist 2 with a plain node between packed ones.
    let ql2 = body(types::LIST_QUICKLIST_2, |o| {
        write_len(o, 2);
        write_len(o, 1);
        write_string(o, b"plain element");
        write_len(o, 2);
        let mut w = LpWriter::new();
        w.push(b"x");
        write_string(o, &w.finish());
    });
    assert_eq!(
        load(&ql2).unwrap().0,
        Contents::List(strs(&["plain element", "x"]))
    );
    let bad_container = body(types::LIST_QUICKLIST_2, |o| {
        write_len(o, 1);
        write_len(o, 3);
        write_string(o, b"x");
    });
    assert!(load(&bad_container).is_err());
    let empty = body(types::LIST_QUICKLIST_2, |o| write_len(o, 0));
    assert!(load(&empty).is_err());
}

#[test]
fn old_hash_encodings() {
    let want = Contents::Hash(vec![
        (b"a".to_vec(), b"1".to_vec()),
        (b"b".to_vec(), b"xy".to_vec()),
    ]);
    let zm = [
        2, 1, b'a', 1, 0, b'1', 1, b'b', 2, 2, b'x', b'y', 0, 0, 0xff,
    ];
    assert_eq!(
        load(&body(types::HASH_ZIPMAP, |o| write_string(o, &zm))).unwrap(),
        (want_clone(&want), "listpack")
    );
    let zl = ziplist(&[
        Entry::Str(b"a"),
        Entry::Int(1),
        Entry::Str(b"b"),
        Entry::Str(b"xy"),
    ]);
    assert_eq!(
        load(&body(types::HASH_ZIPLIST, |o| write_string(o, &zl)))
            .unwrap()
            .0,
        want
    );
    let odd = ziplist(&[Entry::Str(b"a")]);
    assert!(load(&body(types::HASH_ZIPLIST, |o| write_string(o, &odd))).is_err());
    let dup = ziplist(&[
        Entry::Str(b"a"),
        Entry::Int(1),
        Entry::Str(b"a"),
        Entry::Int(2),
    ]);
    assert!(load(&body(types::HASH_ZIPLIST, |o| write_string(o, &dup))).is_err());
    let dup_table = body(types::HASH, |o| {
        write_len(o, 2);
        for s in ["f", "1", "f", "2"] {
            write_string(o, s.as_bytes());
        }
    });
    assert!(load(&dup_table).is_err());
}

fn want_clone(c: &Contents) -> Contents {
    match c {
        Contents::Hash(p) => Contents::Hash(p.clone()),
        _ => unreachable!(),
    }
}

#[test]
fn old_zset_encodings() {
    let text = body(types::ZSET, |o| {
        write_len(o, 3);
        write_string(o, b"a");
        o.extend_from_slice(&[3, b'1', b'.', b'5']);
        write_string(o, b"b");
        o.push(254);
        write_string(o, b"c");
        o.push(255);
    });
    let (c, enc) = load(&text).unwrap();
    assert_eq!(enc, "listpack");
    assert_eq!(
        c,
        Contents::ZSet(vec![
            (b"c".to_vec(), f64::NEG_INFINITY.to_bits()),
            (b"a".to_vec(), 1.5f64.to_bits()),
            (b"b".to_vec(), f64::INFINITY.to_bits()),
        ])
    );
    let nan = body(types::ZSET, |o| {
        write_len(o, 1);
        write_string(o, b"a");
        o.push(253);
    });
    assert!(load(&nan).is_err());
    let zl = ziplist(&[
        Entry::Str(b"a"),
        Entry::Int(2),
        Entry::Str(b"b"),
        Entry::Str(b"2.5"),
    ]);
    assert_eq!(
        load(&body(types::ZSET_ZIPLIST, |o| write_string(o, &zl)))
            .unwrap()
            .0,
        Contents::ZSet(vec![
            (b"a".to_vec(), 2f64.to_bits()),
            (b"b".to_vec(), 2.5f64.to_bits())
        ])
    );
}

#[test]
fn sets_convert_at_thresholds() {
    let limits = CollectionLimits::default();
    let intset = body(types::SET_INTSET, |o| {
        write_string(o, &intset_blob(&(0..600).collect::<Vec<_>>()))
    });
    assert_eq!(load(&intset).unwrap().1, "hashtable");
    let small = body(types::SET_INTSET, |o| {
        write_string(o, &intset_blob(&[1, 5, 9]))
    });
    assert_eq!(load(&small).unwrap().1, "intset");
    let s = SetValue::from_members([&b"a"[..], b"b"], &limits);
    let p = dump(&CompactValue::from_object(Box::new(s))).unwrap();
    assert_eq!(p[0], types::SET, "redis-server 7.0 has no listpack sets");
    let dup = body(types::SET, |o| {
        write_len(o, 2);
        write_string(o, b"x");
        write_string(o, b"x");
    });
    assert!(load(&dup).is_err());
}

#[test]
fn unknown_types_are_refused() {
    for t in [types::MODULE, types::MODULE_2, 8, 20, 200] {
        assert_eq!(load(&[t, 0, 0, 0]).unwrap_err(), RdbError::Unsupported(t));
    }
    assert_eq!(load(&[]).unwrap_err(), RdbError::Truncated);
    // A count larger than the input can hold is refused before anything is allocated.
    let huge = body(types::SET, |o| write_len(o, u64::MAX));
    assert!(load(&huge).is_err());
}

#[test]
fn every_bit_flip_and_cut_of_every_encoding_is_safe() {
    let limits = CollectionLimits::default();
    let mut values = vec![
        CompactValue::from_bytes(b"-42"),
        CompactValue::from_bytes(&b"compressible ".repeat(10)),
    ];
    let mut l = QuickList::new(&limits);
    let mut h = HashValue::new();
    let mut z = ZSetValue::new();
    for i in 0..12 {
        l.push(format!("item{i}").as_bytes(), false);
        h.set(format!("f{i}").as_bytes(), &[b'v'; 70][..i * 6], &limits);
        z.insert(format!("m{i}").as_bytes(), i as f64 / 3.0, &limits);
    }
    values.push(CompactValue::from_object(Box::new(l)));
    values.push(CompactValue::from_object(Box::new(h)));
    values.push(CompactValue::from_object(Box::new(z)));
    values.push(crate::stream::tests::sample_value());
    for members in [&["1", "2", "300000"][..], &["a", "b", "c"]] {
        values.push(CompactValue::from_object(Box::new(SetValue::from_members(
            members, &limits,
        ))));
    }
    let old = [
        body(types::HASH_ZIPLIST, |o| {
            write_string(o, &ziplist(&[Entry::Str(b"a"), Entry::Int(1)]))
        }),
        body(types::HASH_ZIPMAP, |o| {
            write_string(o, &[1, 1, b'a', 1, 0, b'1', 0xff])
        }),
    ];
    let payloads: Vec<Vec<u8>> = values
        .iter()
        .map(|v| dump(v).unwrap())
        .chain(old.iter().map(|b| {
            let mut p = b.clone();
            seal(&mut p);
            p
        }))
        .collect();
    for p in &payloads {
        for i in 0..p.len() {
            for bit in 0..8 {
                let mut q = p.clone();
                q[i] ^= 1 << bit;
                assert!(!verify(&q));
                let _ = restore(&q, &limits);
            }
            let _ = restore(&p[..i], &limits);
        }
        assert!(restore(p, &limits).is_ok());
    }
}
