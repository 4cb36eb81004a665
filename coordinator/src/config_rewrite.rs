//! CONFIG REWRITE: writes the running configuration back into the file the server was
//! started with, the way Redis does: comments, blank lines and lines it does not know stay
//! where they are; a known directive's first line takes its current value and its other
//! lines go; a directive that differs from its default and is not in the file is appended
//! below a marker comment. The new text replaces the file atomically (temporary file, fsync,
//! rename), so a crash leaves the old file or the new one.

use crate::config::{self, Config, PARAMS};
use crate::server::ServerState;
use std::collections::{HashMap, VecDeque};
use std::path::Path;

/// The comment above the lines CONFIG REWRITE appends.
pub const MARKER: &str = "# Lines below were added by CONFIG REWRITE";

/// One directive to write: its name, its lines (whole lines, name included), and whether it
/// must be written when the file does not have it (its value is not the default).
pub struct Directive {
    pub name: String,
    pub lines: Vec<String>,
    pub force: bool,
}

/// A value as a config-file argument: quoted when empty or when it holds spaces.
fn quoted(value: &str) -> String {
    if value.is_empty() || value.contains(char::is_whitespace) {
        format!("\"{value}\"")
    } else {
        value.to_string()
    }
}

/// The directive a config-file line sets (canonical name), if it is one Damselfly knows.
fn directive_of(line: &str) -> Option<String> {
    let t = line.trim();
    if t.is_empty() || t.starts_with('#') {
        return None;
    }
    let name = t.split_whitespace().next()?;
    if name.eq_ignore_ascii_case("user") {
        return Some("user".into());
    }
    config::find(name).map(|p| p.name.to_string())
}

/// The new file text from the old one and the directives to write.
pub fn rewrite_text(old: &str, directives: &[Directive]) -> String {
    let mut lines: Vec<String> = old.lines().map(str::to_string).collect();
    let mut at: HashMap<String, VecDeque<usize>> = HashMap::new();
    let mut has_marker = false;
    for (i, line) in lines.iter().enumerate() {
        has_marker |= line.trim() == MARKER;
        if let Some(name) = directive_of(line) {
            at.entry(name).or_default().push_back(i);
        }
    }
    let mut appended = Vec::new();
    for d in directives {
        let mut slots = at.remove(&d.name).unwrap_or_default();
        if slots.is_empty() && !d.force {
            continue;
        }
        for line in &d.lines {
            match slots.pop_front() {
                Some(i) => lines[i] = line.clone(),
                None => appended.push(line.clone()),
            }
        }
        // Lines of the directive that are left over go.
        for i in slots {
            lines[i].clear();
        }
    }
    if !appended.is_empty() {
        if !has_marker {
            lines.push(MARKER.to_string());
        }
        lines.extend(appended);
    }
    // Runs of blank lines become one blank line.
    let mut text = String::new();
    let mut blank = false;
    for line in lines {
        if line.is_empty() {
            if blank {
                continue;
            }
            blank = true;
        } else {
            blank = false;
        }
        text.push_str(&line);
        text.push('\n');
    }
    text
}

/// The running configuration as directives: every parameter, and the ACL users unless they
/// live in an ACL file.
pub fn directives(server: &ServerState) -> Vec<Directive> {
    let config: &Config = &server.config;
    let mut out: Vec<Directive> = PARAMS
        .iter()
        .map(|p| {
            let value = config.get(p.name).unwrap_or_default();
            Directive {
                name: p.name.to_string(),
                lines: vec![format!("{} {}", p.name, quoted(&value))],
                force: value != p.default,
            }
        })
        .collect();
    let aclfile = config.get("aclfile").unwrap_or_default();
    let users = if aclfile.is_empty() {
        server
            .acl
            .users()
            .iter()
            .map(|u| {
                format!(
                    "user {} {}",
                    String::from_utf8_lossy(&u.name),
                    crate::acl::describe::user_rules(u)
                )
            })
            .collect()
    } else {
        Vec::new()
    };
    out.push(Directive {
        name: "user".into(),
        force: !users.is_empty(),
        lines: users,
    });
    out
}

/// Replaces `path` with `text`: a temporary file beside it, synced, then renamed over it.
fn replace_file(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(
        ".{}.rewrite-{}",
        name.unwrap_or_default(),
        std::process::id()
    ));
    // The runtime's file API: the fiber parks on the I/O, the proactor keeps running.
    let result = (|| {
        let f = damselfly_runtime::fs::File::create(&tmp)?;
        f.write_all_at(text.as_bytes(), 0)?;
        f.fsync()?;
        damselfly_runtime::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn read_file(path: &Path) -> std::io::Result<String> {
    let f = damselfly_runtime::fs::File::open(path)?;
    let mut buf = vec![0u8; f.len()? as usize];
    let n = f.read_full_at(&mut buf, 0)?;
    buf.truncate(n);
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// CONFIG REWRITE on the file the server started with; Err: Redis's error text.
pub fn rewrite(server: &ServerState) -> Result<(), String> {
    let Some(path) = server.config.file() else {
        return Err("ERR The server is running without a config file".into());
    };
    let failed = |e: std::io::Error| {
        log::warn!("CONFIG REWRITE failed: {e}");
        format!("ERR Rewriting config file: {e}")
    };
    let old = match read_file(&path) {
        Ok(t) => t,
        // A file deleted since the start is written anew, as Redis does.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(failed(e)),
    };
    let text = rewrite_text(&old, &directives(server));
    replace_file(&path, &text).map_err(failed)?;
    log::info!("CONFIG REWRITE executed with success.");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(name: &str, lines: &[&str], force: bool) -> Directive {
        Directive {
            name: name.into(),
            lines: lines.iter().map(|l| l.to_string()).collect(),
            force,
        }
    }

    #[test]
    fn keeps_comments_and_unknown_lines_updates_and_appends() {
        let old =
            "# my server\nport 7000\n\n\nsome-unknown-option 1\nmaxclients 10\nmaxclients 20\n";
        let new = rewrite_text(
            old,
            &[
                d("port", &["port 7001"], true),
                d("maxclients", &["maxclients 30"], true),
                d("hz", &["hz 10"], false),
                d("timeout", &["timeout 5"], true),
            ],
        );
        assert_eq!(
            new,
            format!("# my server\nport 7001\n\nsome-unknown-option 1\nmaxclients 30\n\n{MARKER}\ntimeout 5\n")
        );
        // A second rewrite appends below the same marker, not a new one.
        let again = rewrite_text(&new, &[d("loglevel", &["loglevel debug"], true)]);
        assert_eq!(again.matches(MARKER).count(), 1);
        assert!(again.ends_with("timeout 5\nloglevel debug\n"));
    }

    #[test]
    fn a_default_value_in_the_file_is_rewritten_in_place() {
        let new = rewrite_text("hz 50\n", &[d("hz", &["hz 10"], false)]);
        assert_eq!(new, "hz 10\n");
    }

    #[test]
    fn aliases_and_underscores_name_the_same_directive() {
        let new = rewrite_text(
            "proactor_threads 4\nhash-max-ziplist-entries 64\n",
            &[
                d("proactor-threads", &["proactor-threads 2"], true),
                d(
                    "hash-max-listpack-entries",
                    &["hash-max-listpack-entries 128"],
                    false,
                ),
            ],
        );
        assert_eq!(new, "proactor-threads 2\nhash-max-listpack-entries 128\n");
    }

    #[test]
    fn values_with_spaces_are_quoted() {
        assert_eq!(quoted("3600 1"), "\"3600 1\"");
        assert_eq!(quoted(""), "\"\"");
        assert_eq!(quoted("yes"), "yes");
    }
}
