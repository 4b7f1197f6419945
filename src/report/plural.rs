//! Counted nouns: "1 attempt", "2 attempts", "0 deliveries".

/// `n` and the noun that agrees with it: `one` for exactly 1, else `many`.
pub fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::plural;

    #[test]
    fn one_is_singular_everything_else_plural() {
        assert_eq!(plural(1, "attempt", "attempts"), "1 attempt");
        assert_eq!(plural(0, "delivery", "deliveries"), "0 deliveries");
        assert_eq!(plural(2, "attempt", "attempts"), "2 attempts");
    }
}
