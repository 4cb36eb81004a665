//! The value decoder behind RESTORE (and, later, RDB loading): any bytes either decode or
//! give an error, never a panic; whatever decodes serializes again, and that payload decodes
//! to a value of the same type and size.
#![no_main]

use damselfly_persistence::dump::{dump, restore};
use damselfly_shards::{CollectionLimits, CompactValue};
use libfuzzer_sys::fuzz_target;

fn size(v: &CompactValue) -> (damselfly_shards::ObjType, usize) {
    let len = v.as_object().map_or(v.str_len(), |o| o.len());
    (v.obj_type(), len)
}

fuzz_target!(|data: &[u8]| {
    let Some((&seed, input)) = data.split_first() else {
        return;
    };
    // Tiny thresholds some of the time, so conversions to the large encodings are reached
    // with small inputs.
    let limits = if seed & 1 == 0 {
        CollectionLimits::default()
    } else {
        CollectionLimits {
            list_max_listpack_size: 2,
            hash_max_listpack_entries: 2,
            hash_max_listpack_value: 4,
            set_max_intset_entries: 2,
            set_max_listpack_entries: 2,
            set_max_listpack_value: 4,
            zset_max_listpack_entries: 2,
            zset_max_listpack_value: 4,
            ..CollectionLimits::default()
        }
    };
    let Ok(value) = restore(input, &limits) else {
        return;
    };
    let payload = dump(&value).expect("every decoded value serializes");
    let again = restore(&payload, &limits).expect("a serialized value decodes");
    assert_eq!(size(&again), size(&value));
});
