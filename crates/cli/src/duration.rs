//! `--timeout` values: `30s`, `2m`, `1.5s`, `1m30s`, as cosign accepts them.

use std::time::Duration;

/// Parses a duration for clap, refusing zero (a call that can never finish).
pub fn parse_timeout(text: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text.trim())
        .map_err(|err| format!("{err} (examples: 30s, 2m, 1.5s, 1m30s)"))?;
    if duration.is_zero() {
        return Err("the timeout must be longer than zero".to_owned());
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_cosign_style_durations() {
        assert_eq!(parse_timeout("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_timeout("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_timeout("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_timeout("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_timeout("250ms"), Ok(Duration::from_millis(250)));
    }

    #[test]
    fn refuses_nonsense_and_zero() {
        for bad in ["", "abc", "10", "-5s", "0s", "5 parsecs"] {
            assert!(parse_timeout(bad).is_err(), "{bad:?} accepted");
        }
    }
}
