//! The RDB file loader: any body between a valid header and a valid CRC64 trailer (so the
//! checksum does not stop the walk before it starts) loads or gives an error, never a panic;
//! what loads writes out again as a file that loads to the same keys.
#![no_main]

use damselfly_persistence::crc64::crc64;
use damselfly_persistence::rdb_file::{load, trailer, write_entry, write_header, write_select_db};
use damselfly_shards::CollectionLimits;
use libfuzzer_sys::fuzz_target;

fn sealed(mut file: Vec<u8>) -> Vec<u8> {
    let t = trailer(crc64(0, &file));
    file.extend_from_slice(&t);
    file
}

fuzz_target!(|body: &[u8]| {
    let mut file = b"REDIS0010".to_vec();
    file.extend_from_slice(body);
    let file = sealed(file);
    let limits = CollectionLimits::default();
    let mut keys = Vec::new();
    let Ok(report) = load(&file, &limits, |k| keys.push(k.db)) else {
        return;
    };
    assert_eq!(report.keys as usize, keys.len());
    let mut again = Vec::new();
    write_header(&mut again, "7.0.0", 0, 0);
    let mut scratch = Vec::new();
    let mut n = 0;
    let _ = load(&file, &limits, |k| {
        write_select_db(&mut again, k.db, None);
        write_entry(&mut again, &mut scratch, &k.key, &k.value, k.expire_ms)
            .expect("a loaded value serializes");
        n += 1;
    });
    let again = sealed(again);
    let reloaded = load(&again, &limits, |_| {}).expect("a written file loads");
    assert_eq!(reloaded.keys, n);
});
