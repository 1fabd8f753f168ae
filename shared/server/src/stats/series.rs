//! The bucket update of one average series (docs/rest-api.md §4.5), as a pure function: given
//! the series' newest member and the samples of one or more buckets, the members to remove
//! and add. Applying it once for many samples gives exactly the text that applying it once
//! per sample gives: the samples are added one by one, in the order they were taken.

use std::collections::BTreeMap;

use crate::store::StatWrite;

/// The value part of an average member after adding `samples` to `current` (the text before
/// the member's first `:`, `None` in a new bucket). A first sample makes `1,<d>`; every later
/// one turns both numbers into floats (`2.0,0.6000000000000014`, Rust's `{:?}` of `f64`).
pub fn add_samples(current: Option<&str>, samples: &[f64]) -> Option<String> {
    let mut state: Option<(f64, f64, bool)> = current.and_then(parse_average).map(|(n, s)| (n, s, false));
    for &d in samples {
        state = Some(match state {
            None => (1.0, d, true),
            Some((n, s, _)) => (n + 1.0, s + d, false),
        });
    }
    state.map(|(n, s, first)| if first { format!("1,{d:?}", d = s) } else { format!("{n:?},{s:?}") })
}

/// `"n,sum"` → numbers (any float syntax), else `None`.
fn parse_average(text: &str) -> Option<(f64, f64)> {
    let (n, s) = text.split_once(',')?;
    Some((n.trim().parse().ok()?, s.trim().parse().ok()?))
}

/// The update of series `metric` whose newest member is `top` (member, score), for the
/// samples of each bucket start in `buckets`; resolution and retention in seconds.
pub fn plan(
    metric: &str,
    top: Option<(String, i64)>,
    buckets: &BTreeMap<i64, Vec<f64>>,
    resolution: i64,
    retention: i64,
) -> StatWrite {
    let expected = top.as_ref().map(|(m, _)| m.clone());
    let mut write =
        StatWrite { metric: metric.to_owned(), expected, remove: Vec::new(), add: Vec::new(), prune_upto: 0 };
    let mut top = top;
    for (&start, samples) in buckets {
        let mut score = start;
        let mut current: Option<String> = None;
        if let Some((member, top_score)) = &top {
            if *top_score > start - resolution {
                // Merged into the newest bucket: it goes, its value carries on.
                if let Some(at) = write.add.iter().position(|(_, m)| m == member) {
                    write.add.remove(at);
                } else {
                    write.remove.push(member.clone());
                }
                current = member.split_once(':').map(|(v, _)| v.to_owned());
                score = *top_score;
            }
        }
        let Some(value) = add_samples(current.as_deref(), samples) else { continue };
        let member = format!("{value}:{start}");
        write.add.push((score, member.clone()));
        top = Some((member, score));
        write.prune_upto = start - retention;
    }
    write
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sorted set as the script leaves it.
    #[derive(Default)]
    struct ZSet(Vec<(i64, String)>);

    impl ZSet {
        fn top(&self) -> Option<(String, i64)> {
            self.0.iter().max_by_key(|(s, m)| (*s, m.clone())).map(|(s, m)| (m.clone(), *s))
        }
        fn apply(&mut self, w: &StatWrite) {
            assert_eq!(self.top().map(|t| t.0), w.expected);
            self.0.retain(|(_, m)| !w.remove.contains(m));
            for (s, m) in &w.add {
                self.0.retain(|(_, x)| x != m);
                self.0.push((*s, m.clone()));
            }
            self.0.retain(|(s, _)| *s > w.prune_upto);
            self.0.sort();
        }
        fn members(&self) -> Vec<&str> {
            self.0.iter().map(|(_, m)| m.as_str()).collect()
        }
    }

    /// Ten requests of 0.3 s (as a clock reading 10.3 − 10.0 measures them), two per 2 s
    /// bucket, ending at t ≈ 19, with R = 2 and K = 8 (docs/rest-api.md §4.5).
    fn samples() -> Vec<(i64, f64)> {
        let d = 10.3_f64 - 10.0;
        (0..10).map(|i| (((10 + i) / 2) * 2, d)).collect()
    }

    const EXPECTED: [&str; 4] = [
        "2.0,0.6000000000000014:12",
        "2.0,0.6000000000000014:14",
        "2.0,0.6000000000000014:16",
        "2.0,0.6000000000000014:18",
    ];

    #[test]
    fn one_sample_at_a_time_gives_the_test_vector() {
        let mut z = ZSet::default();
        for (start, d) in samples() {
            let buckets = BTreeMap::from([(start, vec![d])]);
            z.apply(&plan("m", z.top(), &buckets, 2, 8));
        }
        assert_eq!(z.members(), EXPECTED);
    }

    #[test]
    fn batched_flushes_give_the_same_members() {
        for chunk in [2, 3, 4, 10] {
            let mut z = ZSet::default();
            for part in samples().chunks(chunk) {
                let mut buckets: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
                for (start, d) in part {
                    buckets.entry(*start).or_default().push(*d);
                }
                z.apply(&plan("m", z.top(), &buckets, 2, 8));
            }
            assert_eq!(z.members(), EXPECTED, "flushing every {chunk} samples");
        }
    }

    #[test]
    fn values_follow_the_per_sample_text() {
        assert_eq!(add_samples(None, &[0.5]).as_deref(), Some("1,0.5"));
        assert_eq!(add_samples(None, &[0.5, 0.25]).as_deref(), Some("2.0,0.75"));
        assert_eq!(add_samples(Some("1,0.5"), &[0.25]).as_deref(), Some("2.0,0.75"));
        assert_eq!(add_samples(Some("2.0,1.0e-05"), &[1.0]).as_deref(), Some("3.0,1.00001"));
        assert_eq!(add_samples(Some("12"), &[0.5]).as_deref(), Some("1,0.5"), "a counter value starts over");
        assert_eq!(add_samples(None, &[]), None);
    }
}
