//! The secret leak scan (issue 17 item 6), shared by the quickstart test at trace level and the
//! chaos scenario at debug level: the needles (secret keys, every JWT the operator can have
//! sent and each of its segments, connection secrets, and the base64 forms of all of them) and
//! the search through every haystack.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use meshes_emulator::Credentials;

/// What must never appear, as (description, text).
pub fn needles(
    creds: &[Credentials],
    secrets: &[(&str, &str)],
    first_second: i64,
    last_second: i64,
) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut plain: Vec<(String, String)> = secrets
        .iter()
        .map(|(what, s)| (what.to_string(), s.to_string()))
        .collect();
    for c in creds {
        plain.push(("secret key".into(), c.secret_key.clone()));
        // Every token the operator can have sent (deterministic per second); each segment on
        // its own, and the whole token.
        let op = meshes_operator::api::Credentials::new(&c.access_key, &c.secret_key, &c.org_id)
            .unwrap();
        for second in first_second..=last_second {
            let token = meshes_operator::api::jwt::mint(&op, second).unwrap();
            for (i, segment) in token.split('.').enumerate() {
                out.push((
                    format!("JWT segment {i} of second {second}"),
                    segment.into(),
                ));
            }
            plain.push((format!("JWT of second {second}"), token));
        }
    }
    for (what, secret) in plain {
        out.push((format!("{what} in base64"), STANDARD.encode(&secret)));
        out.push((format!("{what} in base64url"), URL_SAFE.encode(&secret)));
        out.push((
            format!("{what} in base64url (no padding)"),
            URL_SAFE_NO_PAD.encode(&secret),
        ));
        out.push((what, secret));
    }
    // Header and claims segments are base64url JSON, which starts "eyJ".
    out.push(("a JWT segment".into(), "eyJ".into()));
    out.push(("an Authorization header".into(), "Bearer ".into()));
    out
}

/// Every (needle, haystack) pair found, as "what in where" (one pass over each haystack for
/// all needles: debug logs of a chaos run are tens of megabytes, the needles thousands).
pub fn scan(haystacks: &[(String, String)], needles: &[(String, String)]) -> Vec<String> {
    let needles: Vec<&(String, String)> = needles.iter().filter(|(_, n)| !n.is_empty()).collect();
    let ac = aho_corasick::AhoCorasick::new(needles.iter().map(|(_, n)| n.as_str())).unwrap();
    let mut found = std::collections::BTreeSet::new();
    for (where_, text) in haystacks {
        for m in ac.find_overlapping_iter(text.as_str()) {
            found.insert(format!("{} in {where_}", needles[m.pattern().as_usize()].0));
        }
    }
    found.into_iter().collect()
}
