//! Redis-compatible glob matching (`stringmatchlen` in Redis's util.c) for KEYS and
//! SCAN MATCH: `*`, `?`, `[abc]`, `[^a]`, `[a-z]` (reversed ranges allowed), `\` escapes,
//! optional case folding (ASCII), and the same early exit on hopeless `*` backtracking.

/// Recursion limit for nested `*`, as in Redis (abusive patterns simply do not match).
const NESTING_MAX: u32 = 1000;

/// True when `string` matches the glob `pattern`.
pub fn glob_match(pattern: &[u8], string: &[u8], nocase: bool) -> bool {
    let mut skip_longer = false;
    match_from(pattern, string, nocase, &mut skip_longer, 0)
}

/// A pattern for many keys. Exactly `*` matches every key, the empty one included, without
/// running the matcher (as KEYS and SCAN do in Redis; `stringmatchlen("*", "")` is false).
#[derive(Clone, Debug)]
pub struct GlobPattern {
    pattern: Vec<u8>,
    nocase: bool,
    matches_all: bool,
}

impl GlobPattern {
    pub fn new(pattern: &[u8], nocase: bool) -> GlobPattern {
        let matches_all = pattern == b"*";
        GlobPattern {
            pattern: pattern.to_vec(),
            nocase,
            matches_all,
        }
    }

    pub fn matches(&self, string: &[u8]) -> bool {
        self.matches_all || glob_match(&self.pattern, string, self.nocase)
    }

    pub fn matches_all(&self) -> bool {
        self.matches_all
    }
}

fn fold(b: u8, nocase: bool) -> u8 {
    if nocase {
        b.to_ascii_lowercase()
    } else {
        b
    }
}

fn match_from(pat: &[u8], s: &[u8], nocase: bool, skip_longer: &mut bool, nesting: u32) -> bool {
    if nesting > NESTING_MAX {
        return false;
    }
    let at = |i: usize| pat.get(i).copied().unwrap_or(0);
    let (mut p, mut si) = (0usize, 0usize);
    while p < pat.len() && si < s.len() {
        match pat[p] {
            b'*' => {
                while p + 1 < pat.len() && pat[p + 1] == b'*' {
                    p += 1;
                }
                if p + 1 == pat.len() {
                    return true;
                }
                while si < s.len() {
                    if match_from(&pat[p + 1..], &s[si..], nocase, skip_longer, nesting + 1) {
                        return true;
                    }
                    if *skip_longer {
                        return false;
                    }
                    si += 1;
                }
                // The rest of the pattern matches no suffix: a longer match for any earlier
                // `*` cannot help either.
                *skip_longer = true;
                return false;
            }
            b'?' => si += 1,
            b'[' => {
                p += 1;
                let negate = at(p) == b'^';
                if negate {
                    p += 1;
                }
                let c = s[si];
                let mut matched = false;
                loop {
                    let remaining = pat.len().saturating_sub(p);
                    if at(p) == b'\\' && remaining >= 2 {
                        p += 1;
                        matched |= pat[p] == c;
                    } else if remaining == 0 {
                        // Unterminated class: step back so the shared `p += 1` lands at the end.
                        p -= 1;
                        break;
                    } else if pat[p] == b']' {
                        break;
                    } else if remaining >= 3 && pat[p + 1] == b'-' {
                        let (mut start, mut end) = (pat[p], pat[p + 2]);
                        if start > end {
                            std::mem::swap(&mut start, &mut end);
                        }
                        let (start, end, ch) =
                            (fold(start, nocase), fold(end, nocase), fold(c, nocase));
                        p += 2;
                        matched |= ch >= start && ch <= end;
                    } else {
                        matched |= fold(pat[p], nocase) == fold(c, nocase);
                    }
                    p += 1;
                }
                if matched == negate {
                    return false;
                }
                si += 1;
            }
            other => {
                let literal = if other == b'\\' && pat.len() - p >= 2 {
                    p += 1;
                    pat[p]
                } else {
                    other
                };
                if fold(literal, nocase) != fold(s[si], nocase) {
                    return false;
                }
                si += 1;
            }
        }
        p += 1;
        if si == s.len() {
            while at(p) == b'*' {
                p += 1;
            }
            break;
        }
    }
    p >= pat.len() && si == s.len()
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    fn m(p: &str, s: &str) -> bool {
        glob_match(p.as_bytes(), s.as_bytes(), false)
    }

    #[test]
    fn stars_and_questions() {
        assert!(!m("*", ""), "stringmatchlen needs a character for the loop");
        assert!(super::GlobPattern::new(b"*", false).matches(b""));
        assert!(!super::GlobPattern::new(b"**", false).matches(b""));
        assert!(m("*", "anything"));
        assert!(m("h?llo", "hello"));
        assert!(!m("h?llo", "hllo"));
        assert!(m("h*llo", "hllo"));
        assert!(m("h*llo", "heeeello"));
        assert!(m("a*b*c", "axxbyyc"));
        assert!(!m("a*b*c", "axxbyy"));
        assert!(m("key:*", "key:1"));
        assert!(!m("key:*", "kez:1"));
        assert!(m("**a**", "xa"));
        assert!(!m("", "a"));
        assert!(m("", ""));
        assert!(!m("a", ""));
        assert!(m("a*", "a"));
    }

    #[test]
    fn classes() {
        assert!(m("h[ae]llo", "hello"));
        assert!(m("h[ae]llo", "hallo"));
        assert!(!m("h[ae]llo", "hillo"));
        assert!(m("h[^e]llo", "hallo"));
        assert!(!m("h[^e]llo", "hello"));
        assert!(m("h[a-b]llo", "hbllo"));
        assert!(m("h[b-a]llo", "hallo"));
        assert!(!m("h[a-b]llo", "hcllo"));
        assert!(m("[\\]]", "]"));
        assert!(m("[a-", "a"));
        assert!(m("[abc", "c"));
        assert!(!m("[abc", "d"));
    }

    #[test]
    fn escapes_and_case() {
        assert!(m("h\\*llo", "h*llo"));
        assert!(!m("h\\*llo", "hello"));
        assert!(m("a\\", "a\\"));
        assert!(glob_match(b"HeLLo", b"hello", true));
        assert!(!glob_match(b"HeLLo", b"hello", false));
        assert!(glob_match(b"[A-C]x", b"bx", true));
    }

    #[test]
    fn pathological_pattern_terminates() {
        let pattern = "a*".repeat(50) + "b";
        let string = "a".repeat(100);
        assert!(!m(&pattern, &string));
    }
}
