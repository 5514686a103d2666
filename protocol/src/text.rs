//! Building the bounded `heapless::String`s that travel on the wire from ordinary `&str`s.

use heapless::String;

/// Copies as much of `s` as fits into a `String<N>`, cutting at a character boundary.
///
/// Wire strings have fixed capacities (a log line is 160 bytes, a Nack detail 96): the
/// sender truncates rather than failing, because a shortened message is more useful than none.
pub fn truncate<const N: usize>(s: &str) -> String<N> {
    let mut out = String::new();
    for ch in s.chars() {
        if out.push(ch).is_err() {
            break;
        }
    }
    out
}

/// Copies `s` into a `String<N>`, or returns `None` when it does not fit.
///
/// For values whose meaning would change when cut short (config keys and values, tokens).
pub fn exact<const N: usize>(s: &str) -> Option<String<N>> {
    let mut out = String::new();
    out.push_str(s).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncate_cuts_at_char_boundary() {
        let s: String<4> = truncate("aé€x");
        // 'a' (1) + 'é' (2) fit, '€' (3) does not.
        assert_eq!(s.as_str(), "aé");
    }

    #[test]
    fn exact_refuses_overlong() {
        assert!(exact::<3>("abcd").is_none());
        assert_eq!(exact::<4>("abcd").unwrap().as_str(), "abcd");
    }
}
