//! Redis's glob matching (`SCAN … MATCH`), for the statistics names and the namespace
//! flush: a port of `stringmatchlen`, quirks included.

/// Redis's glob match of `string` against `pattern` (`stringmatchlen` of Redis 7.0,
/// case-sensitive), byte for byte: `*`, `?`, `[…]` with `^` and ranges, `\` escapes.
pub(super) fn glob_match(pattern: &str, string: &str) -> bool {
    let mut skip_longer = false;
    glob_impl(pattern.as_bytes(), string.as_bytes(), &mut skip_longer)
}

fn glob_impl(p: &[u8], s: &[u8], skip_longer: &mut bool) -> bool {
    // Redis reads past the end into the string's NUL terminator; `at` does the same.
    let at = |v: &[u8], i: usize| v.get(i).copied().unwrap_or(0);
    let (mut pi, mut si) = (0usize, 0usize);
    while pi < p.len() && si < s.len() {
        match p[pi] {
            b'*' => {
                while pi + 1 < p.len() && p[pi + 1] == b'*' {
                    pi += 1;
                }
                if pi + 1 == p.len() {
                    return true;
                }
                while si < s.len() {
                    if glob_impl(&p[pi + 1..], &s[si..], skip_longer) {
                        return true;
                    }
                    if *skip_longer {
                        return false;
                    }
                    si += 1;
                }
                *skip_longer = true;
                return false;
            }
            b'?' => si += 1,
            b'[' => {
                pi += 1;
                let not = at(p, pi) == b'^';
                if not {
                    pi += 1;
                }
                let mut matched = false;
                // Bytes compare as C `char`s (signed), as in Redis.
                let c = s[si] as i8;
                loop {
                    let left = p.len().saturating_sub(pi);
                    if at(p, pi) == b'\\' && left >= 2 {
                        pi += 1;
                        if at(p, pi) as i8 == c {
                            matched = true;
                        }
                    } else if at(p, pi) == b']' {
                        break;
                    } else if left == 0 {
                        pi -= 1;
                        break;
                    } else if left >= 3 && at(p, pi + 1) == b'-' {
                        let (mut lo, mut hi) = (at(p, pi) as i8, at(p, pi + 2) as i8);
                        if lo > hi {
                            std::mem::swap(&mut lo, &mut hi);
                        }
                        pi += 2;
                        if c >= lo && c <= hi {
                            matched = true;
                        }
                    } else if at(p, pi) as i8 == c {
                        matched = true;
                    }
                    pi += 1;
                }
                if not {
                    matched = !matched;
                }
                if !matched {
                    return false;
                }
                si += 1;
            }
            first => {
                let lit = if first == b'\\' && p.len() - pi >= 2 {
                    pi += 1;
                    p[pi]
                } else {
                    first
                };
                if lit != s[si] {
                    return false;
                }
                si += 1;
            }
        }
        pi += 1;
        if si == s.len() {
            while at(p, pi) == b'*' {
                pi += 1;
            }
            break;
        }
    }
    pi >= p.len() && si == s.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_as_in_redis() {
        assert!(glob_match("rs\\:\\{stats\\}:stat:*", "rs:{stats}:stat:users"));
        assert!(glob_match("a*", "a"));
        assert!(glob_match("u?ers", "users"));
        assert!(glob_match("[a-u]sers", "users"));
        assert!(glob_match("[^x]sers", "users"));
        assert!(!glob_match("[^u]sers", "users"));
        assert!(glob_match("*s", "users"));
        assert!(!glob_match("x*", "users"));
        assert!(glob_match("a\\*b", "a*b"));
        assert!(!glob_match("a\\*b", "axb"));
        // An empty string matches no pattern, not even `*` (Redis's loop never starts).
        assert!(!glob_match("*", ""));
        assert!(!glob_match("a", ""));
    }
}
