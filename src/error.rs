//! Error helpers shared by every layer: [`Chain`] prints an error with each of its causes once.

/// An error and its causes on one line (`a: b: c`), each cause once: a cause whose text is already in the
/// line is left out, since some libraries (sea-orm, sqlx) print their source in their own message too.
pub struct Chain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut line = self.0.to_string();
        let mut cause = self.0.source();
        while let Some(e) = cause {
            let text = e.to_string();
            if !text.is_empty() && !line.contains(&text) {
                line.push_str(": ");
                line.push_str(&text);
            }
            cause = e.source();
        }
        f.write_str(&line)
    }
}

#[cfg(test)]
mod tests {
    use super::Chain;

    #[derive(Debug, thiserror::Error)]
    #[error("Connection Error: {0}")]
    struct Loud(#[source] Inner);

    #[derive(Debug, thiserror::Error)]
    #[error("file is not a database")]
    struct Inner;

    #[derive(Debug, thiserror::Error)]
    #[error("Cannot open the database")]
    struct Outer(#[source] Loud);

    #[test]
    fn each_cause_once() {
        assert_eq!(
            Chain(&Outer(Loud(Inner))).to_string(),
            "Cannot open the database: Connection Error: file is not a database"
        );
        assert_eq!(Chain(&Inner).to_string(), "file is not a database");
    }
}
