//! The token gate of one connection: which transports ask for the pre-shared token, and the
//! check of the token a peer presents (in time independent of where it differs).

/// Whether a connection asks for the token, and whether it was presented.
#[derive(Debug, Clone)]
pub struct AuthGate {
    token: Option<String>,
    authenticated: bool,
}

impl AuthGate {
    /// A connection that must `Auth` with `token` before anything but `Hello`.
    pub fn token(token: String) -> AuthGate {
        AuthGate {
            token: Some(token),
            authenticated: false,
        }
    }

    /// A trusted transport (serial without `link.serial.require_token`, TCP without a token):
    /// no `Auth` asked for.
    pub fn trusted() -> AuthGate {
        AuthGate {
            token: None,
            authenticated: true,
        }
    }

    /// `token` required when one is given, else trusted.
    pub fn from_token(token: Option<&str>) -> AuthGate {
        token.map_or_else(AuthGate::trusted, |t| AuthGate::token(t.to_string()))
    }

    /// Whether the peer must present the token.
    pub fn required(&self) -> bool {
        self.token.is_some()
    }

    /// Whether requests may pass.
    pub fn open(&self) -> bool {
        self.authenticated
    }

    /// Checks a presented token; a wrong one also closes a gate that was open.
    pub fn present(&mut self, given: &str) -> bool {
        match &self.token {
            None => true,
            Some(expected) => {
                self.authenticated = token_matches(given, expected);
                self.authenticated
            }
        }
    }
}

/// Compares tokens in time independent of where they differ.
fn token_matches(given: &str, expected: &str) -> bool {
    let (a, b) = (given.as_bytes(), expected.as_bytes());
    let mut diff = (a.len() ^ b.len()) as u8;
    for i in 0..a.len().max(b.len()) {
        diff |= a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0xff);
    }
    diff == 0 && a.len() == b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_token_opens_the_gate() {
        let mut g = AuthGate::token("s3cret".into());
        assert!(g.required() && !g.open());
        for wrong in ["", "s3cre", "s3cret ", "S3cret", "s3cret\0"] {
            assert!(!g.present(wrong), "{wrong:?}");
        }
        assert!(g.present("s3cret") && g.open());
        assert!(
            !g.present("nope") && !g.open(),
            "a wrong token closes it again"
        );
        assert!(AuthGate::trusted().open());
        assert!(!AuthGate::trusted().required());
    }
}
