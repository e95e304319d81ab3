//! `--flag value` pairs and positional arguments, nothing more.

use std::collections::HashMap;
use std::str::FromStr;

pub type Result<T, E = Box<dyn std::error::Error>> = std::result::Result<T, E>;

pub struct Args {
    flags: HashMap<String, String>,
    pub positional: Vec<String>,
}

impl Args {
    pub fn parse(argv: &[String]) -> Result<Args, String> {
        let mut flags = HashMap::new();
        let mut positional = Vec::new();
        let mut rest = argv.iter();
        while let Some(arg) = rest.next() {
            match arg.strip_prefix("--") {
                Some(name) => {
                    let value = rest.next().ok_or(format!("--{name} needs a value"))?;
                    flags.insert(name.to_owned(), value.clone());
                }
                None => positional.push(arg.clone()),
            }
        }
        Ok(Args { flags, positional })
    }

    pub fn get(&self, name: &str) -> Result<&str> {
        self.flags
            .get(name)
            .map(String::as_str)
            .ok_or_else(|| format!("--{name} is required").into())
    }

    pub fn opt(&self, name: &str) -> Option<&str> {
        self.flags.get(name).map(String::as_str)
    }

    pub fn num<T: FromStr>(&self, name: &str, default: T) -> Result<T> {
        match self.flags.get(name) {
            None => Ok(default),
            Some(text) => text
                .parse()
                .map_err(|_| format!("--{name}: not a number: {text}").into()),
        }
    }
}
