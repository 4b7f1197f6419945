//! `--help` for people: each command's own flags first, the shared ones under "Global options" (see
//! [`crate::cli::config::GlobalArgs`]), then one example and the exit codes.

use clap::{ArgMatches, Command, CommandFactory, FromArgMatches};

use crate::cli::config::Cli;

/// The exit codes of most commands.
const EXIT: &str =
    "Exit status: 0 done; 1 failed (the error says why); 2 a usage or configuration \
                    error: a bad flag, an unknown session, a database that does not exist.";

/// `(command path, example, exit codes when not [`EXIT`])` of every command.
const HELP: &[(&str, &str, Option<&str>)] = &[
    ("serve", "LABTRAIL_PUBLIC_URL=https://labtrail.example.edu labtrail serve", Some(
        "Exit status: 0 after a clean shutdown (SIGINT/SIGTERM); 1 it could not start or failed; 2 a \
         usage or configuration error.",
    )),
    ("migrate", "DATABASE_URL=postgres://labtrail_owner@db/labtrail labtrail migrate", None),
    ("session create", "labtrail session create --org my-course --slug lab3 --title 'Lab 3' --repos 'lab3-*' \
      --timezone Europe/Paris --opens '2026-12-01 08:00' --closes '2026-12-08 23:59'", None),
    ("session list", "labtrail session list --org my-course --format csv", None),
    ("session archive", "labtrail session archive --org my-course --slug lab3", None),
    ("session edit", "labtrail session edit --slug lab3 --closes '2026-12-09 23:59'", None),
    ("session extend", "labtrail session extend --slug lab3 --student alice --closes '2026-12-10 23:59'", None),
    ("session unarchive", "labtrail session unarchive --slug lab3", None),
    ("session invite", "labtrail session invite --slug lab3 --rotate", None),
    ("attempts list", "labtrail attempts list --session lab3 --student alice", None),
    ("attempts show", "labtrail attempts show 42", None),
    ("attempts summary", "labtrail attempts summary --session lab3 --format csv", None),
    ("roster import", "labtrail roster import --org my-course --replace --dry-run classroom_roster.csv", None),
    ("roster remove", "labtrail roster remove --org my-course alice@uni.example", None),
    ("roster list", "labtrail roster list --org my-course --format csv", None),
    ("roster link", "labtrail roster link --org my-course alice@uni.example alice-gh", None),
    ("roster unlink", "labtrail roster unlink --org my-course alice@uni.example", None),
    ("grades export", "labtrail grades export --session lab3 --out lab3-grades.csv", None),
    ("grades book", "labtrail grades book --org my-course --sessions lab1,lab2,lab3 --out gradebook.csv", None),
    ("scores sync", "labtrail scores sync --session lab3", None),
    ("reindex", "labtrail reindex --session lab3", None),
    ("witness keygen", "labtrail witness keygen --name witness.school.example --out witness.key", None),
    ("witness serve", "DATABASE_URL=sqlite://witness.db?mode=rwc labtrail witness serve --bind 0.0.0.0:3100 --key witness.key --logs logs.txt", None),
    ("deliver", "labtrail deliver push.json --event push --wait", Some(
        "Exit status: 0 sent (with --wait: recorded, processed or ignored); 1 refused, failed or no outcome \
         in time; 2 a usage or configuration error.",
    )),
    ("deliveries list", "labtrail deliveries list --status ignored", None),
    ("deliveries show", "labtrail deliveries show 72d3162e-cc78-11e3-81ab-4c9367dc0958", None),
    ("redeliver", "labtrail redeliver --since 24h --dry-run", Some(
        "Exit status: 0 every request made; 1 a request failed; 2 a usage or configuration error.",
    )),
    ("audit verify", "labtrail audit verify --archive /srv/labtrail/archive", Some(
        "Exit status: 0 intact; 1 tampered (the first bad seq, or each row that differs); 2 cannot verify.",
    )),
    ("audit checkpoint", "labtrail audit checkpoint --write", None),
    ("audit export", "labtrail audit export --after-seq 1000 --limit 500", None),
    ("audit archive", "labtrail audit archive --upto 100000 --out /srv/labtrail/archive", None),
    ("audit keygen", "labtrail audit keygen", None),
    ("audit prove", "labtrail audit prove --attempt 42 --out proof-42.json", None),
    ("audit check-proof", "labtrail audit check-proof proof-42.json --public-key labtrail-audit.key.pub", Some(
        "Exit status: 0 valid; 1 invalid; 2 unusable input.",
    )),
    ("audit public-key", "labtrail audit public-key", None),
    ("token create", "labtrail token create --name ta-ann --role instructor --org my-course", None),
    ("token list", "labtrail token list", None),
    ("token revoke", "labtrail token revoke ta-ann", None),
    ("retention run", "labtrail retention run --dry-run", None),
    ("doctor", "labtrail doctor", Some("Exit status: 0 healthy; 1 problems found (each ✗ line says the fix).")),
];

/// The `after_help` of one command.
fn after_help(example: &str, exit: Option<&str>) -> String {
    format!("Example:\n  {example}\n\n{}", exit.unwrap_or(EXIT))
}

fn with_help(mut cmd: Command, path: &[&str], example: &str, exit: Option<&str>) -> Command {
    match path {
        [] => cmd.after_help(after_help(example, exit)),
        [first, rest @ ..] => {
            let rest = rest.to_vec();
            let example = example.to_owned();
            let exit = exit.map(str::to_owned);
            cmd = cmd.mut_subcommand(*first, move |sub| {
                with_help(sub, &rest, &example, exit.as_deref())
            });
            cmd
        }
    }
}

/// The command line with every command's example and exit codes.
pub fn command() -> Command {
    HELP.iter()
        .fold(Cli::command(), |cmd, (path, example, exit)| {
            let path: Vec<&str> = path.split(' ').collect();
            with_help(cmd, &path, example, *exit)
        })
}

/// Parse the process's arguments (exits with clap's message and code 2 on a usage error).
pub fn parse() -> Cli {
    let matches: ArgMatches = command().get_matches();
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every leaf command has an example.
    #[test]
    fn every_command_has_an_example() {
        fn leaves(cmd: &Command, prefix: &str, out: &mut Vec<String>) {
            let subs: Vec<&Command> = cmd
                .get_subcommands()
                .filter(|c| c.get_name() != "help")
                .collect();
            if subs.is_empty() {
                out.push(prefix.trim().to_owned());
            }
            for s in subs {
                leaves(s, &format!("{prefix} {}", s.get_name()), out);
            }
        }
        let mut all = Vec::new();
        leaves(&command(), "", &mut all);
        for leaf in all {
            assert!(
                HELP.iter().any(|(p, ..)| *p == leaf),
                "no example for `{leaf}`"
            );
        }
    }
}
