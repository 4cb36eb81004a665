//! Snapshots: SAVE, BGSAVE [SCHEDULE], LASTSAVE; the save-point cron (`save` "seconds
//! changes" pairs, and `snapshot-cron`'s minutes); DEBUG RELOAD's save-then-load. The snapshot itself is in
//! [`crate::snapshot`] and [`crate::snapshot_file`], loading in [`crate::snapshot_load`].

use crate::args::{eq_ignore_case, Args};
use crate::ctx::CmdCtx;
use crate::error::{CmdError, CmdResult};
use crate::exec::Exec;
use crate::registry::{command, flags::*, CommandSpec};
use crate::server::ServerState;
use crate::snapshot_file::{self, save_point_due, BeginError};
use damselfly_persistence::cron::CronSchedule;
use damselfly_runtime::clock;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

const IN_PROGRESS: &str = "ERR Background save already in progress";
/// After a failed background save, save points wait this long before the next try (Redis's
/// CONFIG_BGSAVE_RETRY_DELAY).
const RETRY_DELAY_MS: u64 = 5_000;

fn cmd_save(ctx: &mut CmdCtx<'_>, _args: &Args<'_>) -> CmdResult {
    if ctx.server.persistence.in_progress() {
        return Err(CmdError::raw(IN_PROGRESS));
    }
    match snapshot_file::save(ctx.server, &mut ctx.exec) {
        Ok(_) => ctx.reply().ok(),
        Err(_) => return Err(CmdError::raw("ERR")),
    }
    Ok(())
}

fn cmd_bgsave(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    match args.len() {
        1 => {}
        2 if eq_ignore_case(args.get(1), "schedule") => {}
        _ => return Err(CmdError::Syntax),
    }
    if ctx.server.persistence.in_progress() {
        return Err(CmdError::raw(IN_PROGRESS));
    }
    if ctx.exec.in_transaction() {
        // As Redis inside EXEC: the save starts right after, from the cron.
        ctx.server
            .persistence
            .scheduled
            .store(true, Ordering::Relaxed);
        ctx.reply().simple(b"Background saving scheduled");
        return Ok(());
    }
    let server = crate::server::ProactorState::current().server.clone();
    match snapshot_file::bgsave(&server, &mut ctx.exec) {
        Ok(()) => ctx.reply().simple(b"Background saving started"),
        Err(BeginError::InProgress) => return Err(CmdError::raw(IN_PROGRESS)),
        Err(BeginError::Key(e)) => {
            log::warn!("background save not started: {e}");
            return Err(CmdError::raw(format!("ERR {e}")));
        }
    }
    Ok(())
}

fn cmd_lastsave(ctx: &mut CmdCtx<'_>, _args: &Args<'_>) -> CmdResult {
    let t = ctx.server.persistence.last_save_s.load(Ordering::Relaxed);
    ctx.reply().integer(t as i64);
    Ok(())
}

/// The writes counted so far (Redis's dirty counter), summed over every proactor by hop.
pub fn dirty_now(server: &ServerState) -> u64 {
    let per = crate::tx::on_all_shards(&|_| crate::families::server_family::local_writes());
    per.iter().sum::<u64>() + crate::families::server_family::dirty_carry(server)
}

/// The save-point cron, on proactor 0: once a second, starts a background save when a
/// `save` point is due or one was scheduled.
pub fn start_cron(server: Arc<ServerState>) {
    // The minute `snapshot-cron` was last looked at: the start's minute does not fire, so a
    // restart inside a matching minute does not save again.
    let mut cron_minute = clock::wall_now_ms() / 60_000;
    damselfly_runtime::fiber::every("save-cron", Duration::from_secs(1), move || {
        if damselfly_runtime::stopping() {
            return false;
        }
        let p = &server.persistence;
        if p.in_progress() || p.loading.load(Ordering::Relaxed) {
            return true;
        }
        let now = clock::wall_now_ms();
        let mut due = p.scheduled.swap(false, Ordering::Relaxed);
        if now / 60_000 != cron_minute {
            cron_minute = now / 60_000;
            if cron_due(&server, cron_minute) {
                log::info!("snapshot_cron: starting a background save");
                due = true;
            }
        }
        let points = server.config.get("save").unwrap_or_default();
        if !due && !points.is_empty() && (p.last_ok() || now - p.last_try_ms() > RETRY_DELAY_MS) {
            let changes =
                dirty_now(&server).saturating_sub(p.dirty_at_save.load(Ordering::Relaxed));
            let elapsed = (now / 1000).saturating_sub(p.last_save_s.load(Ordering::Relaxed));
            due = save_point_due(&points, elapsed, changes);
            if due {
                log::info!("{changes} changes in {elapsed} seconds. Saving...");
            }
        }
        if due {
            let _ = snapshot_file::bgsave(&server, &mut Exec::now());
        }
        true
    });
}

/// Whether `snapshot-cron` fires in `unix_minute` (the value was checked when it was set).
fn cron_due(server: &ServerState, unix_minute: u64) -> bool {
    let expr = server.config.get("snapshot-cron").unwrap_or_default();
    !expr.trim().is_empty() && CronSchedule::parse(&expr).is_ok_and(|c| c.matches(unix_minute))
}

/// DEBUG RELOAD: saves, empties every database and loads the file back.
pub fn debug_reload(ctx: &mut CmdCtx<'_>) -> CmdResult {
    if snapshot_file::save(ctx.server, &mut ctx.exec).is_err() {
        return Err(CmdError::raw("ERR Error trying to save the DB"));
    }
    let path = crate::snapshot_load::present_snapshot(ctx.server)
        .ok_or_else(|| CmdError::raw("ERR Error trying to load the RDB dump: no file"))?;
    crate::snapshot_load::reload(ctx.server, &mut ctx.exec, &path)
        .map_err(|e| CmdError::raw(format!("ERR Error trying to load the RDB dump: {e}")))?;
    ctx.reply().ok();
    Ok(())
}

pub fn commands() -> Vec<CommandSpec> {
    let none = (0, 0, 0);
    vec![
        command(
            "save",
            1,
            ADMIN | NOSCRIPT | NO_MULTI,
            &["@admin", "@slow", "@dangerous"],
            none,
            "server",
            "1.0.0",
            "Synchronously saves the database(s) to disk.",
            cmd_save,
        ),
        command(
            "bgsave",
            -1,
            ADMIN | NOSCRIPT,
            &["@admin", "@slow", "@dangerous"],
            none,
            "server",
            "1.0.0",
            "Asynchronously saves the database(s) to disk.",
            cmd_bgsave,
        ),
        command(
            "lastsave",
            1,
            LOADING | STALE | FAST,
            &["@admin", "@fast", "@dangerous"],
            none,
            "server",
            "1.0.0",
            "Returns the Unix timestamp of the last successful save to disk.",
            cmd_lastsave,
        ),
    ]
}
