//! Durations from text nobody vouches for (annotations, flags, servers) and arithmetic on them
//! that cannot panic: every parse is bounded, every product and every `Instant + Duration` is
//! checked. A panic in a reconcile is re-raised by the controller runtime and would crash-loop
//! the operator for every tenant, so no value anywhere may cause one.

use std::time::{Duration, Instant};

/// The longest `meshes.io/resync-interval` honoured.
pub const ANNOTATION_MAX: Duration = Duration::from_secs(24 * 3600);
/// The longest duration flag accepted.
pub const FLAG_MAX: Duration = Duration::from_secs(7 * 24 * 3600);

/// Parses a duration flag (`10m`, `30s`): more than zero and at most [`FLAG_MAX`].
pub fn parse_flag(text: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(text).map_err(|e| format!("{text:?}: {e}"))?;
    if d.is_zero() || d > FLAG_MAX {
        return Err(format!(
            "{text:?} is out of range: more than 0 and at most {}",
            humantime::format_duration(FLAG_MAX)
        ));
    }
    Ok(d)
}

/// Parses an annotation's duration within `[floor, ANNOTATION_MAX]`; the error says why the
/// value is not applied, for the object's own Event.
pub fn parse_annotation(key: &str, text: &str, floor: Duration) -> Result<Duration, String> {
    let d = humantime::parse_duration(text.trim())
        .map_err(|e| format!("{key}: {text:?} is not a duration ({e}); using the default"))?;
    if d < floor || d > ANNOTATION_MAX {
        return Err(format!(
            "{key}: {text:?} is outside {} to {}; using the default",
            humantime::format_duration(floor),
            humantime::format_duration(ANNOTATION_MAX)
        ));
    }
    Ok(d)
}

/// `d × factor`, saturating at [`FLAG_MAX`]; a negative or NaN factor gives zero.
pub fn scale(d: Duration, factor: f64) -> Duration {
    let secs = d.as_secs_f64() * factor;
    if secs.is_nan() || secs <= 0.0 {
        return Duration::ZERO;
    }
    Duration::try_from_secs_f64(secs)
        .unwrap_or(FLAG_MAX)
        .min(FLAG_MAX)
}

/// `now + d`, saturating (an `Instant` that cannot be represented is never produced).
pub fn after(now: Instant, d: Duration) -> Instant {
    now.checked_add(d.min(FLAG_MAX))
        .or_else(|| now.checked_add(ANNOTATION_MAX))
        .unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absurd_annotations_are_refused_with_a_reason_not_a_panic() {
        let floor = Duration::from_secs(10);
        for text in [
            "18000000000000000000s",
            "1000000000h",
            "1s",
            "0s",
            "-5s",
            "soon",
            "",
            "25h",
        ] {
            let e = parse_annotation("meshes.io/resync-interval", text, floor).unwrap_err();
            assert!(e.contains("meshes.io/resync-interval"), "{text}: {e}");
        }
        assert_eq!(
            parse_annotation("k", "5m", floor).unwrap(),
            Duration::from_secs(300)
        );
        assert_eq!(parse_annotation("k", "24h", floor).unwrap(), ANNOTATION_MAX);
    }

    #[test]
    fn flags_are_bounded() {
        assert!(parse_flag("18000000000000000000s").is_err());
        assert!(parse_flag("0s").is_err());
        assert!(parse_flag("8days").is_err());
        assert_eq!(parse_flag("10m").unwrap(), Duration::from_secs(600));
    }

    #[test]
    fn arithmetic_saturates() {
        let huge = Duration::from_secs(u64::MAX);
        assert_eq!(scale(huge, 1.9), FLAG_MAX);
        assert_eq!(scale(Duration::from_secs(10), f64::NAN), Duration::ZERO);
        assert_eq!(scale(Duration::from_secs(10), -1.0), Duration::ZERO);
        assert_eq!(scale(Duration::from_secs(10), 0.5), Duration::from_secs(5));
        let now = Instant::now();
        assert!(after(now, huge) > now);
    }
}
