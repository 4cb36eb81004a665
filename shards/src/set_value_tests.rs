//! Property tests of `SetValue` against a `HashSet` model, through every conversion.

use super::*;
use proptest::prelude::*;
use std::collections::HashSet;

/// Small thresholds so random streams cross each of them.
fn small_limits(intset: usize, lp_entries: usize, lp_value: usize) -> CollectionLimits {
    CollectionLimits {
        set_max_intset_entries: intset,
        set_max_listpack_entries: lp_entries,
        set_max_listpack_value: lp_value,
        ..CollectionLimits::default()
    }
}

/// The encoding Redis 7.2's rules give after adding `member` (new) to a set of `len` members
/// encoded `enc` whose members all fit... as tracked by the model.
fn next_encoding(
    enc: &'static str,
    len: usize,
    member: &[u8],
    max_len: usize,
    l: &CollectionLimits,
) -> &'static str {
    let is_int = parse_canonical_i64(member).is_some();
    match enc {
        "intset" if is_int && len < l.set_max_intset_entries => "intset",
        "intset" | "listpack"
            if len < l.set_max_listpack_entries
                && member.len() <= l.set_max_listpack_value
                && max_len <= l.set_max_listpack_value =>
        {
            "listpack"
        }
        _ => "hashtable",
    }
}

fn member() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        (-30i64..30).prop_map(|v| v.to_string().into_bytes()),
        any::<i64>().prop_map(|v| v.to_string().into_bytes()),
        "[a-e]{1,3}".prop_map(String::into_bytes),
        "[a-z]{6,12}".prop_map(String::into_bytes),
        Just(b"007".to_vec()),
        Just(b"-0".to_vec()),
        Just(Vec::new()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn matches_hashset_model(
        (intset, lp_entries, lp_value) in (0usize..10, 0usize..10, 0usize..25),
        ops in proptest::collection::vec((0u8..6, member(), any::<u64>()), 0..200),
    ) {
        let limits = small_limits(intset, lp_entries, lp_value);
        let mut s = SetValue::new();
        let mut model: HashSet<Vec<u8>> = HashSet::new();
        let mut enc = "intset";
        for (op, m, r) in ops {
            match op {
                0 | 1 => {
                    let is_new = !model.contains(&m);
                    if is_new {
                        let max_len = model.iter().map(|x| x.len()).max().unwrap_or(0);
                        enc = next_encoding(enc, model.len(), &m, max_len, &limits);
                    }
                    prop_assert_eq!(s.add(&m, &limits), model.insert(m.clone()));
                }
                2 => prop_assert_eq!(s.remove(&m), model.remove(&m)),
                3 => prop_assert_eq!(s.contains(&m), model.contains(&m)),
                4 => {
                    let popped = s.pop_random(r);
                    match popped {
                        Some(p) => prop_assert!(model.remove(&p)),
                        None => prop_assert!(model.is_empty()),
                    }
                }
                _ => {
                    let picked = s.random_member(r).map(|m| m.to_vec());
                    match picked {
                        Some(p) => prop_assert!(model.contains(&p)),
                        None => prop_assert!(model.is_empty()),
                    }
                }
            }
            prop_assert_eq!(s.len(), model.len());
            prop_assert_eq!(s.encoding(), enc);
        }
        let mut got = s.to_vecs();
        got.sort();
        let mut want: Vec<Vec<u8>> = model.iter().cloned().collect();
        want.sort();
        prop_assert_eq!(&got, &want);
        // A full scan sees every member once.
        let mut scanned = Vec::new();
        let mut cursor = 0;
        loop {
            cursor = s.scan(cursor, 3, |m| scanned.push(m.to_vec()));
            if cursor == 0 {
                break;
            }
        }
        scanned.sort();
        prop_assert_eq!(&scanned, &want);
        let rebuilt = SetValue::from_members(&want, &limits);
        prop_assert_eq!(rebuilt.len(), want.len());
        for m in &want {
            prop_assert!(rebuilt.contains(m));
        }
    }
}

#[test]
fn redis_70_rules_without_listpack() {
    // set-max-listpack-entries 0: a small string set is a hashtable, as Redis 7.0 has it.
    let limits = small_limits(512, 0, 64);
    let mut s = SetValue::new();
    assert!(s.add(b"1", &limits));
    assert_eq!(s.encoding(), "intset");
    assert!(s.add(b"a", &limits));
    assert_eq!(s.encoding(), "hashtable");
    let mut s = SetValue::new();
    assert!(s.add(b"213244124402402314402033402", &limits));
    assert_eq!(s.encoding(), "hashtable");
}

#[test]
fn default_thresholds() {
    let limits = CollectionLimits::default();
    let mut s = SetValue::new();
    for i in 0..512 {
        assert!(s.add(i.to_string().as_bytes(), &limits));
    }
    assert_eq!(s.encoding(), "intset");
    assert!(s.add(b"512", &limits));
    assert_eq!(s.encoding(), "hashtable");
    let mut s = SetValue::new();
    for i in 0..128 {
        s.add(format!("m{i}").as_bytes(), &limits);
    }
    assert_eq!(s.encoding(), "listpack");
    s.add(b"one more", &limits);
    assert_eq!(s.encoding(), "hashtable");
    let mut s = SetValue::new();
    s.add(&[b'x'; 65], &limits);
    assert_eq!(s.encoding(), "hashtable");
}

#[test]
fn heap_bytes_follow_writes() {
    let limits = CollectionLimits::default();
    let mut s = SetValue::new();
    let empty = s.heap_bytes();
    for i in 0..2000 {
        s.add(format!("member:{i}").as_bytes(), &limits);
    }
    assert!(s.heap_bytes() > empty + 2000 * 8);
    for i in 0..2000 {
        s.remove(format!("member:{i}").as_bytes());
    }
    assert!(s.is_empty());
}
