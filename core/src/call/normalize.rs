//! Destination normalisation (`call.normalizeDestination`, 02-calls §2.16):
//! `bob` → `sip:bob@example.com`, `tel:+1 (613) 555-0100` →
//! `sip:+16135550100@example.com`, `sip:bob@other.org` kept.

/// Normalises `destination` for a user of `own_domain`. `None` for an empty
/// destination.
pub fn normalize(destination: &str, own_domain: &str) -> Option<String> {
    let d = destination.trim();
    if d.is_empty() {
        return None;
    }
    let (user_part, domain) = match d.rfind('@') {
        Some(i) if i > 0 && i < d.len() - 1 => (&d[..i], &d[i + 1..]),
        _ => (d, own_domain),
    };
    // Drop any scheme-like prefix up to the last ':'.
    let user = match user_part.rfind(':') {
        Some(i) => &user_part[i + 1..],
        None => user_part,
    };
    let prefix_len = user
        .find(|c| !matches!(c, '#' | '+' | '*'))
        .unwrap_or(user.len());
    let (prefix, rest) = user.split_at(prefix_len);
    let phone = !rest.is_empty()
        && rest.chars().any(|c| c.is_ascii_digit())
        && rest
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '.' | '(' | ')' | '+'));
    let body = if phone {
        rest.chars()
            .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')' | '+'))
            .collect::<String>()
    } else {
        rest.to_owned()
    };
    let kept = if phone { prefix } else { "" };
    let body = if phone { body } else { user.to_owned() };
    if body.is_empty() {
        return None;
    }
    Some(format!("sip:{kept}{body}@{domain}"))
}

/// The domain part of a user name (`alice@example.com` → `example.com`).
pub fn domain_of(username: &str) -> &str {
    username.rsplit_once('@').map(|(_, d)| d).unwrap_or("")
}

/// `user@domain` without a scheme, for display numbers.
pub fn display_number(uri: &str) -> String {
    let s = uri.trim();
    let s = s
        .rsplit_once('<')
        .map(|(_, r)| r.trim_end_matches('>'))
        .unwrap_or(s);
    for scheme in ["sip:", "sips:", "tel:"] {
        if let Some(rest) = s.strip_prefix(scheme) {
            return rest.to_owned();
        }
    }
    s.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_examples_of_the_protocol() {
        assert_eq!(
            normalize("bob", "example.com").as_deref(),
            Some("sip:bob@example.com")
        );
        assert_eq!(
            normalize("tel:+1 (613) 555-0100", "example.com").as_deref(),
            Some("sip:+16135550100@example.com")
        );
        assert_eq!(
            normalize("sip:bob@other.org", "example.com").as_deref(),
            Some("sip:bob@other.org")
        );
        assert_eq!(
            normalize(" *67 555.0100 ", "x.org").as_deref(),
            Some("sip:*675550100@x.org")
        );
        assert_eq!(normalize("", "x.org"), None);
        assert_eq!(normalize("sip:", "x.org"), None);
        assert_eq!(
            display_number("Alice<sip:alice@example.com>"),
            "alice@example.com"
        );
        assert_eq!(display_number("sip:bob@example.com"), "bob@example.com");
        assert_eq!(domain_of("alice@example.com"), "example.com");
    }
}
