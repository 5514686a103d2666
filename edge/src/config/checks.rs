//! Value checks the key table refers to; each returns the reason in the words the user sees
//! after the key (`correction.offset: must be -16384..=16384`).

use std::fmt::Display;

/// Result of a check: the reason when the value is refused.
pub type Check = Result<(), String>;

/// `lo..=hi`.
pub fn within<T: PartialOrd + Display>(v: T, lo: T, hi: T) -> Check {
    if v >= lo && v <= hi {
        Ok(())
    } else {
        Err(format!("must be {lo}..={hi}"))
    }
}

/// At least `lo`.
pub fn at_least<T: PartialOrd + Display>(v: T, lo: T) -> Check {
    if v >= lo {
        Ok(())
    } else {
        Err(format!("must be >= {lo}"))
    }
}

/// A finite number of at least `lo`.
pub fn finite_at_least(v: f32, lo: f32) -> Check {
    if v.is_finite() && v >= lo {
        Ok(())
    } else {
        Err(format!("must be a finite number >= {lo}"))
    }
}

/// `lo < v <= hi`.
pub fn above_up_to(v: f32, lo: f32, hi: f32) -> Check {
    if v > lo && v <= hi {
        Ok(())
    } else {
        Err(format!("must be > {lo} and <= {hi}"))
    }
}

/// A finite number above `lo`.
pub fn finite_above(v: f32, lo: f32) -> Check {
    if v.is_finite() && v > lo {
        Ok(())
    } else {
        Err(format!("must be > {lo}"))
    }
}

/// Text of `lo..=hi` bytes.
pub fn bytes_between(s: &str, lo: usize, hi: usize) -> Check {
    if (lo..=hi).contains(&s.len()) {
        Ok(())
    } else {
        Err(format!("must be {lo} to {hi} bytes"))
    }
}

/// A non-empty path.
pub fn path_given(p: &std::path::Path) -> Check {
    if p.as_os_str().is_empty() {
        Err("must be a path".into())
    } else {
        Ok(())
    }
}

/// Fails with `reason` when `bad` holds.
pub fn refuse_if(bad: bool, reason: &str) -> Check {
    if bad { Err(reason.to_string()) } else { Ok(()) }
}
