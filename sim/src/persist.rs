//! Snapshots and crashes: in a quarter of the seeds the server keeps its snapshot in the
//! simulator's files. Client 0 SAVEs now and then, remembering its own keys as they were (its
//! model is exact: nobody else writes them). At the end a BGSAVE starts and the machine
//! crashes a moment later: each file keeps only what fsync made durable, plus a torn prefix of
//! the rest. A new server starts on the same files and must load a whole snapshot: the last
//! SAVE that answered OK, a SAVE whose reply was lost, or the final BGSAVE — never a torn file
//! and never a mixture.

use crate::resp::Reply;
use std::collections::BTreeMap;

/// Client 0's keys of one connection generation at the moment a SAVE ran.
#[derive(Clone, Debug, Default)]
pub struct SavedModel {
    pub gen: u32,
    /// Private keys: value, and whether it had a TTL (then it may also be gone).
    pub values: BTreeMap<Vec<u8>, (Vec<u8>, bool)>,
    /// Its INCR counters.
    pub counters: BTreeMap<Vec<u8>, i64>,
    /// False when the SAVE's reply was lost (it may or may not have happened).
    pub acknowledged: bool,
}

/// The snapshots a restarted server may legitimately load: the last acknowledged one and
/// every one after it whose outcome is unknown, plus `final_model` (a BGSAVE that may have
/// finished before the crash). None: nothing was saved for sure, so an empty start is allowed.
pub fn candidates(saves: &[SavedModel], final_model: SavedModel) -> Vec<SavedModel> {
    let mut out = Vec::new();
    let from = match saves.iter().rposition(|s| s.acknowledged) {
        Some(i) => i,
        None => {
            // Nothing saved for sure: the restarted server may also start empty.
            out.push(SavedModel {
                gen: final_model.gen,
                ..Default::default()
            });
            0
        }
    };
    out.extend(saves[from..].iter().cloned());
    out.push(final_model);
    out
}

/// How a restarted server's keys compare with one saved model; `read` answers a GET.
pub fn matches(
    model: &SavedModel,
    id: usize,
    private_keys: usize,
    read: &mut dyn FnMut(&[u8]) -> Option<Reply>,
) -> Result<(), String> {
    for j in 0..private_keys {
        let key = format!("p{id}:{}:{j}", model.gen).into_bytes();
        let got = read(&key).ok_or("the restarted server did not answer")?;
        let name = String::from_utf8_lossy(&key).into_owned();
        match (model.values.get(&key), &got) {
            (None, Reply::Bulk(None)) => {}
            (Some((_, true)), Reply::Bulk(None)) => {}
            (Some((v, _)), Reply::Bulk(Some(g))) if v == g => {}
            (want, _) => {
                return Err(format!(
                    "{name}: loaded {got}, saved {}",
                    want.map_or("(nil)".into(), |(v, _)| String::from_utf8_lossy(v)
                        .into_owned())
                ))
            }
        }
    }
    for j in 0..2 {
        let key = format!("n{id}:{}:{j}", model.gen).into_bytes();
        let got = read(&key).ok_or("the restarted server did not answer")?;
        let want = model.counters.get(&key).copied();
        let ok = match (&got, want) {
            (Reply::Bulk(None), None) => true,
            (Reply::Bulk(Some(b)), Some(w)) => b == w.to_string().as_bytes(),
            _ => false,
        };
        if !ok {
            return Err(format!(
                "{}: loaded {got}, saved {want:?}",
                String::from_utf8_lossy(&key)
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(gen: u32, v: &str, acknowledged: bool) -> SavedModel {
        let mut m = SavedModel {
            gen,
            acknowledged,
            ..Default::default()
        };
        m.values
            .insert(format!("p0:{gen}:0").into_bytes(), (v.into(), false));
        m
    }

    #[test]
    fn candidates_start_at_the_last_acknowledged_save() {
        let saves = [
            model(0, "a", true),
            model(0, "b", true),
            model(0, "c", false),
        ];
        let c = candidates(&saves, model(0, "z", false));
        let firsts: Vec<_> = c
            .iter()
            .map(|m| m.values.values().next().unwrap().0.clone())
            .collect();
        assert_eq!(firsts, vec![b"b".to_vec(), b"c".to_vec(), b"z".to_vec()]);
        // With no acknowledged save, an empty start is one of them.
        let c = candidates(&saves[2..], model(0, "z", false));
        assert_eq!(c.len(), 3);
        assert!(c[0].values.is_empty());
    }

    #[test]
    fn a_loaded_value_must_equal_the_saved_one() {
        let m = model(0, "a", true);
        let mut db: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        db.insert(b"p0:0:0".to_vec(), b"a".to_vec());
        let mut read = |k: &[u8]| Some(Reply::Bulk(db.get(k).cloned()));
        assert!(matches(&m, 0, 3, &mut read).is_ok());
        let mut stale = |k: &[u8]| Some(Reply::Bulk((k == b"p0:0:0").then(|| b"old".to_vec())));
        assert!(matches(&m, 0, 3, &mut stale).is_err());
    }
}
