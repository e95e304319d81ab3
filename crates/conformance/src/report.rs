//! The outcome of each check, and the report a plugin author reads.

use std::fmt;

use sigstore_kms_client::Escaped;

/// How one check ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The plugin behaved as required.
    Passed,
    /// It did not; the text says what happened instead.
    Failed(String),
    /// The check does not apply here; the text says why.
    Skipped(String),
}

/// One named check and how it ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckResult {
    /// The check's name, stable across versions (`create-key-idempotent`).
    pub name: &'static str,
    /// How it ended.
    pub outcome: Outcome,
}

/// One line: a reason quotes what the plugin said, so its control
/// characters (line feeds included) are escaped, and a plugin cannot print
/// a line of the report, or act on the terminal.
impl fmt::Display for CheckResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.outcome {
            Outcome::Passed => write!(f, "PASS {}", self.name),
            Outcome::Failed(reason) => write!(f, "FAIL {}: {}", self.name, Escaped::new(reason)),
            Outcome::Skipped(reason) => write!(f, "SKIP {}: {}", self.name, Escaped::new(reason)),
        }
    }
}

/// Every check of one run, in the order they ran.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// The results.
    pub results: Vec<CheckResult>,
}

impl Report {
    /// How many checks passed.
    pub fn passed(&self) -> usize {
        self.count(|outcome| matches!(outcome, Outcome::Passed))
    }

    /// How many checks failed.
    pub fn failed(&self) -> usize {
        self.count(|outcome| matches!(outcome, Outcome::Failed(_)))
    }

    /// How many checks did not apply.
    pub fn skipped(&self) -> usize {
        self.count(|outcome| matches!(outcome, Outcome::Skipped(_)))
    }

    /// Whether no check failed.
    pub fn is_success(&self) -> bool {
        self.failed() == 0
    }

    /// The result of the check named `name`, if it ran.
    pub fn get(&self, name: &str) -> Option<&CheckResult> {
        self.results.iter().find(|result| result.name == name)
    }

    /// The closing line: `N passed, N failed` (and `, N skipped` when any).
    pub fn summary(&self) -> String {
        let mut line = format!("{} passed, {} failed", self.passed(), self.failed());
        if self.skipped() > 0 {
            line.push_str(&format!(", {} skipped", self.skipped()));
        }
        line
    }

    fn count(&self, predicate: impl Fn(&Outcome) -> bool) -> usize {
        self.results
            .iter()
            .filter(|result| predicate(&result.outcome))
            .count()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for result in &self.results {
            writeln!(f, "{result}")?;
        }
        write!(f, "{}", self.summary())
    }
}
