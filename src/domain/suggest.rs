//! "Did you mean …?": the known name closest to a typed one (edit distance), so a typo is caught before
//! it changes anything.

/// The candidate closest to `typed` (case-insensitive Levenshtein distance), when it is close: at most 2
/// edits, and fewer than half of the typed name's length. Ties go to the first candidate.
pub fn closest<'a>(typed: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let typed = typed.to_lowercase();
    let limit = 2.min(typed.chars().count().saturating_sub(1) / 2).max(1);
    candidates
        .into_iter()
        .filter(|c| !c.is_empty())
        .map(|c| (strsim::levenshtein(&typed, &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::closest;

    #[test]
    fn a_typo_finds_the_student() {
        let known = ["mkowalski", "anowak", "a.nowak@uni.test"];
        assert_eq!(closest("mkowalsky", known), Some("mkowalski"));
        assert_eq!(closest("MKowalski", known), Some("mkowalski"));
        assert_eq!(closest("anowka", known), Some("anowak"));
        assert_eq!(closest("zzz", known), None);
        assert_eq!(closest("bob", ["rob", "bobby"]), Some("rob"));
        assert_eq!(closest("ab", ["xy"]), None);
    }
}
