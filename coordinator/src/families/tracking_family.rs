//! CLIENT TRACKING, CLIENT CACHING, CLIENT GETREDIR and CLIENT TRACKINGINFO (dispatched from
//! CLIENT in connection_family). The table and the invalidations are in `tracking`.

use crate::args::{eq_ignore_case, parse_i64, Args};
use crate::ctx::CmdCtx;
use crate::error::{CmdError, CmdResult};
use crate::tracking::{self, TrackingMode};

/// CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX p ...] [BCAST] [OPTIN] [OPTOUT] [NOLOOP]
pub fn client_tracking(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let mut mode = TrackingMode::default();
    let mut i = 3;
    while i < args.len() {
        let opt = args.get(i);
        let more = i + 1 < args.len();
        if eq_ignore_case(opt, "redirect") && more {
            i += 1;
            if mode.redirect != 0 {
                return Err(CmdError::raw(
                    "ERR A client can only redirect to a single other client",
                ));
            }
            let id = parse_i64(args.get(i))?;
            if id <= 0 || ctx.server.tracking.home_of(id as u64).is_none() {
                return Err(CmdError::raw(
                    "ERR The client ID you want redirect to does not exist",
                ));
            }
            mode.redirect = id as u64;
        } else if eq_ignore_case(opt, "bcast") {
            mode.bcast = true;
        } else if eq_ignore_case(opt, "optin") {
            mode.optin = true;
        } else if eq_ignore_case(opt, "optout") {
            mode.optout = true;
        } else if eq_ignore_case(opt, "noloop") {
            mode.noloop = true;
        } else if eq_ignore_case(opt, "prefix") && more {
            i += 1;
            mode.prefixes.push(args.get(i).to_vec());
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    let info = ctx.conn.info.clone();
    let on_off = args.get(2);
    if eq_ignore_case(on_off, "on") {
        if !mode.bcast && !mode.prefixes.is_empty() {
            return Err(CmdError::raw(
                "ERR PREFIX option requires BCAST mode to be enabled",
            ));
        }
        let current = info.tracking.mode.borrow().clone();
        if let Some(cur) = &current {
            if cur.bcast != mode.bcast {
                return Err(CmdError::raw("ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode."));
            }
        }
        if mode.bcast && (mode.optin || mode.optout) {
            return Err(CmdError::raw(
                "ERR OPTIN and OPTOUT are not compatible with BCAST",
            ));
        }
        if mode.optin && mode.optout {
            return Err(CmdError::raw(
                "ERR You can't specify both OPTIN mode and OPTOUT mode",
            ));
        }
        if let Some(cur) = &current {
            if (mode.optin && cur.optout) || (mode.optout && cur.optin) {
                return Err(CmdError::raw("ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode."));
            }
        }
        if mode.bcast {
            let existing = current.as_ref().map_or(&[][..], |c| &c.prefixes[..]);
            tracking::check_prefixes(existing, &mode.prefixes).map_err(CmdError::raw)?;
        }
        tracking::enable(&info, mode);
    } else if eq_ignore_case(on_off, "off") {
        tracking::disable(&info);
    } else {
        return Err(CmdError::Syntax);
    }
    ctx.reply().ok();
    Ok(())
}

/// CLIENT CACHING YES|NO: for the next command of an OPTIN / OPTOUT client.
pub fn client_caching(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let t = &ctx.conn.info.tracking;
    let (optin, optout) = match t.mode.borrow().as_ref() {
        Some(m) => (m.optin, m.optout),
        None => {
            return Err(CmdError::raw("ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled"));
        }
    };
    let opt = args.get(2);
    if eq_ignore_case(opt, "yes") {
        if !optin {
            return Err(CmdError::raw(
                "ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.",
            ));
        }
    } else if eq_ignore_case(opt, "no") {
        if !optout {
            return Err(CmdError::raw(
                "ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.",
            ));
        }
    } else {
        return Err(CmdError::Syntax);
    }
    t.caching.set(true);
    ctx.reply().ok();
    Ok(())
}

/// CLIENT GETREDIR: the redirect id, 0 without one, -1 when tracking is off.
pub fn client_getredir(ctx: &mut CmdCtx<'_>) -> CmdResult {
    let redirect = ctx
        .conn
        .info
        .tracking
        .mode
        .borrow()
        .as_ref()
        .map_or(-1, |m| m.redirect as i64);
    ctx.reply().integer(redirect);
    Ok(())
}

/// CLIENT TRACKINGINFO: flags, redirect and prefixes, as Redis lists them.
pub fn client_trackinginfo(ctx: &mut CmdCtx<'_>) -> CmdResult {
    let t = &ctx.conn.info.tracking;
    let mode = t.mode.borrow().clone();
    let mut flags: Vec<&str> = Vec::new();
    match &mode {
        None => flags.push("off"),
        Some(m) => {
            flags.push("on");
            if m.bcast {
                flags.push("bcast");
            }
            if m.optin {
                flags.push("optin");
                if t.caching.get() {
                    flags.push("caching-yes");
                }
            }
            if m.optout {
                flags.push("optout");
                if t.caching.get() {
                    flags.push("caching-no");
                }
            }
            if m.noloop {
                flags.push("noloop");
            }
            if t.broken.get() {
                flags.push("broken_redirect");
            }
        }
    }
    let mut w = ctx.reply();
    w.map_header(3);
    w.bulk(b"flags");
    w.set_header(flags.len());
    for f in &flags {
        w.bulk(f.as_bytes());
    }
    w.bulk(b"redirect");
    w.integer(mode.as_ref().map_or(-1, |m| m.redirect as i64));
    w.bulk(b"prefixes");
    let prefixes = mode.map(|m| m.prefixes).unwrap_or_default();
    w.array_header(prefixes.len());
    for p in &prefixes {
        w.bulk(p);
    }
    Ok(())
}
