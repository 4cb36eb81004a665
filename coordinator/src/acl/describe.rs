//! Users written back as rules (ACL LIST, ACL GETUSER, ACL SAVE): the shortest description
//! Redis would give, built the way Redis builds it — start from `+@all` or `-@all`, apply the
//! categories that fit best, then name the single commands that still differ — so that
//! applying the description gives back exactly the same permissions.

use super::rules::{KeyPattern, Selector, User};
use super::table::{CommandTable, CATEGORIES, READ, WRITE};

/// `~pat`, `%R~pat` or `%W~pat`.
pub fn pattern_rule(p: &KeyPattern) -> String {
    let prefix = match p.access {
        a if a == READ | WRITE => "~",
        READ => "%R~",
        WRITE => "%W~",
        _ => "~",
    };
    format!("{prefix}{}", String::from_utf8_lossy(&p.pattern))
}

/// The command part of a selector's rules.
pub fn command_rules(s: &Selector) -> String {
    let t = CommandTable::get();
    let n = t.entries.len();
    let mut rules: Vec<String> = Vec::new();
    let additive = !s.future_commands;
    let mut fake = Selector::new(false);
    fake.apply(if additive { b"-@all" } else { b"+@all" })
        .expect("valid rule");
    rules.push(if additive { "-@all" } else { "+@all" }.to_string());
    // A copy the chosen categories are undone on, so each round sees what is left to explain.
    let mut temp = s.clone();
    let mut applied = [false; CATEGORIES.len()];
    loop {
        let mut best = None;
        let (mut min_diff, mut max_same) = (usize::MAX, 0);
        for (j, _) in CATEGORIES.iter().enumerate() {
            if applied[j] {
                continue;
            }
            let (mut on, mut off) = (0, 0);
            for id in 0..n {
                if t.entries[id].categories & (1 << j) != 0 {
                    if temp.allows_id(id) {
                        on += 1;
                    } else {
                        off += 1;
                    }
                }
            }
            let (diff, same) = if additive { (off, on) } else { (on, off) };
            if same > diff && (diff < min_diff || (diff == min_diff && same > max_same)) {
                best = Some(j);
                min_diff = diff;
                max_same = same;
            }
        }
        let Some(j) = best else { break };
        let (op, inverse) = if additive { ("+@", "-@") } else { ("-@", "+@") };
        let op = format!("{op}{}", CATEGORIES[j]);
        fake.apply(op.as_bytes()).expect("valid rule");
        temp.apply(format!("{inverse}{}", CATEGORIES[j]).as_bytes())
            .expect("valid rule");
        rules.push(op);
        applied[j] = true;
    }
    // Single commands that still differ, then allowed first arguments.
    for (id, entry) in t.entries.iter().enumerate() {
        let want = s.allows_id(id);
        if want != fake.allows_id(id) {
            rules.push(format!("{}{}", if want { "+" } else { "-" }, entry.name));
            fake.change_command(id, want);
        }
    }
    for (id, entry) in t.entries.iter().enumerate() {
        if s.allows_id(id) {
            continue;
        }
        if let Some((_, args)) = s.first_args.iter().find(|(i, _)| *i == id) {
            for a in args {
                rules.push(format!("+{}|{}", entry.name, String::from_utf8_lossy(a)));
            }
        }
    }
    rules.join(" ")
}

/// Keys, channels and commands of one selector, as ACL LIST shows them.
pub fn selector_rules(s: &Selector) -> String {
    let mut out = String::new();
    if s.all_keys {
        out.push_str("~* ");
    } else {
        for p in &s.patterns {
            out.push_str(&pattern_rule(p));
            out.push(' ');
        }
    }
    if s.all_channels {
        out.push_str("&* ");
    } else {
        out.push_str("resetchannels ");
        for c in &s.channels {
            out.push('&');
            out.push_str(&String::from_utf8_lossy(c));
            out.push(' ');
        }
    }
    out.push_str(&command_rules(s));
    out
}

/// The user's flags in Redis's order: on/off, nopass, the payload flag.
pub fn user_flags(u: &User) -> Vec<&'static str> {
    let mut f = vec![if u.enabled { "on" } else { "off" }];
    if u.nopass {
        f.push("nopass");
    }
    match u.sanitize_skip {
        Some(true) => f.push("skip-sanitize-payload"),
        Some(false) => f.push("sanitize-payload"),
        None => {}
    }
    f
}

/// Everything about a user but its name, as a rule string (ACL LIST after `user NAME `).
pub fn user_rules(u: &User) -> String {
    let mut out = String::new();
    for f in user_flags(u) {
        out.push_str(f);
        out.push(' ');
    }
    for p in &u.passwords {
        out.push('#');
        out.push_str(p);
        out.push(' ');
    }
    for (i, s) in u.selectors.iter().enumerate() {
        if i == 0 {
            out.push_str(&selector_rules(s));
        } else {
            out.push_str(&format!(" ({})", selector_rules(s)));
        }
    }
    out
}

/// ACL GETUSER's `keys` value for a selector.
pub fn keys_field(s: &Selector) -> String {
    if s.all_keys {
        return "~*".to_string();
    }
    let parts: Vec<String> = s.patterns.iter().map(pattern_rule).collect();
    parts.join(" ")
}

/// ACL GETUSER's `channels` value for a selector.
pub fn channels_field(s: &Selector) -> String {
    if s.all_channels {
        return "&*".to_string();
    }
    let parts: Vec<String> = s
        .channels
        .iter()
        .map(|c| format!("&{}", String::from_utf8_lossy(c)))
        .collect();
    parts.join(" ")
}
