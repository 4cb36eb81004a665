//! DFS snapshots (`--df_snapshot_format`): each shard writes its own file in parallel
//! (`<base>-<id>-<shard>.dfs`, lz4 blocks of RDB entries), then the coordinator writes the
//! summary (`<base>-summary.dfs`, an RDB file naming the generation) and renames it into
//! place last; older generations are removed after. `<base>` is `dbfilename` without its
//! `.rdb`/`.dfs` extension. Loading reads the summary, then every shard file it names.

use crate::server::ServerState;
use crate::snapshot::DfsTarget;
use crate::snapshot_load::Router;
use damselfly_persistence::{dfs, rdb_file};
use damselfly_runtime::clock;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

fn base(server: &ServerState) -> (PathBuf, String) {
    let (path, dir) = crate::snapshot_file::snapshot_path(server);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name
        .strip_suffix(".rdb")
        .or_else(|| name.strip_suffix(".dfs"))
        .unwrap_or(&name)
        .to_string();
    (dir, stem)
}

pub fn summary_path(server: &ServerState) -> PathBuf {
    let (dir, stem) = base(server);
    dir.join(format!("{stem}-summary.dfs"))
}

/// The shard files of a new DFS snapshot, when the format is on.
pub fn target(
    server: &ServerState,
    shards: usize,
    key: Option<damselfly_persistence::crypt::MasterKey>,
) -> Option<DfsTarget> {
    if server.config.get("df-snapshot-format").as_deref() != Some("yes") {
        return None;
    }
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let (dir, base) = base(server);
    let id = clock::wall_now_us() << 8 | (COUNTER.fetch_add(1, Ordering::Relaxed) & 0xff);
    Some(DfsTarget {
        dir,
        base,
        id,
        shards: shards as u32,
        key,
    })
}

/// Shard files of generations other than `keep`, or of this generation when `keep` is None.
fn shard_files(t: &DfsTarget, keep: Option<u64>) -> Vec<PathBuf> {
    let prefix = format!("{}-", t.base);
    let Ok(entries) = damselfly_runtime::fs::read_dir(&t.dir) else {
        return Vec::new();
    };
    let generation = |name: &str| -> Option<u64> {
        let rest = name.strip_prefix(&prefix)?.strip_suffix(".dfs")?;
        let (g, shard) = rest.split_once('-')?;
        let ok = g.len() == 16 && shard.len() == 4 && shard.bytes().all(|b| b.is_ascii_digit());
        ok.then(|| u64::from_str_radix(g, 16).ok()).flatten()
    };
    entries
        .into_iter()
        .filter(|p| {
            let g = p.file_name().and_then(|n| generation(&n.to_string_lossy()));
            match (g, keep) {
                (Some(g), Some(k)) => g != k,
                (Some(g), None) => g == t.id,
                _ => false,
            }
        })
        .collect()
}

/// After the summary is in place: removes older generations' shard files. After a failure:
/// removes this generation's.
pub fn clean_up(t: &DfsTarget, succeeded: bool) {
    let files = if succeeded {
        shard_files(t, Some(t.id))
    } else {
        shard_files(t, None)
    };
    for f in files {
        let _ = damselfly_runtime::fs::remove_file(f);
    }
}

/// Loads the DFS snapshot whose summary is `summary`.
pub fn load(server: &ServerState, summary: &Path, router: &mut Router) -> Result<(), String> {
    let buf = crate::snapshot_crypt::read_snapshot(server, summary)?;
    let limits = router.limits();
    let report = rdb_file::load(&buf, &limits, |k| router.key(k)).map_err(|e| e.to_string())?;
    let aux = |name: &str| {
        report
            .aux
            .iter()
            .find(|(k, _)| k == name.as_bytes())
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    };
    let id = aux("dfs-id")
        .and_then(|v| u64::from_str_radix(&v, 16).ok())
        .ok_or("the summary names no DFS generation")?;
    let shards: usize = aux("dfs-shards")
        .and_then(|v| v.parse().ok())
        .ok_or("the summary names no shard count")?;
    let (dir, base) = base(server);
    let target = DfsTarget {
        dir,
        base,
        id,
        shards: shards as u32,
        key: None,
    };
    for shard in 0..shards {
        let path = target.shard_path(shard);
        let buf = crate::snapshot_crypt::read_snapshot(server, &path)?;
        dfs::load_shard(&buf, id, &limits, |k| router.key(k))
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    crate::families::function_family::restore_libraries(server, &report.functions)
        .map_err(|e| format!("can't load a function library: {e}"))
}
