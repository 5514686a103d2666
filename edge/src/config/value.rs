//! [`ConfigValue`]: how each Rust type a configuration key holds is read from and written to
//! TOML, with refusals that say what was expected. The key table names a key's type; this file
//! is the only place that converts it.

use std::path::PathBuf;

use toml::Value;

/// A type a configuration key can hold.
pub trait ConfigValue: Sized {
    /// What a value looks like, for messages and the key listing (`integer`, `one of: a, b`).
    fn kind() -> String;
    /// The value as TOML; `None` when an optional key is unset.
    fn to_toml(&self) -> Option<Value>;
    /// Reads a TOML value; the error says what was expected (the caller adds the key).
    fn from_toml(v: &Value) -> Result<Self, String>;
}

/// The TOML type of `v` in words, for "expected …, got …".
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "a string",
        Value::Integer(_) => "an integer",
        Value::Float(_) => "a number",
        Value::Boolean(_) => "true/false",
        Value::Datetime(_) => "a date",
        Value::Array(_) => "a list",
        Value::Table(_) => "a table",
    }
}

fn expected<T>(what: &str, got: &Value) -> Result<T, String> {
    Err(format!("expected {what}, got {}", type_name(got)))
}

macro_rules! integer_value {
    ($($t:ty),*) => {$(
        impl ConfigValue for $t {
            fn kind() -> String {
                "integer".into()
            }

            fn to_toml(&self) -> Option<Value> {
                Some(Value::Integer(i64::try_from(*self).unwrap_or(i64::MAX)))
            }

            fn from_toml(v: &Value) -> Result<Self, String> {
                match v {
                    Value::Integer(i) => <$t>::try_from(*i).map_err(|_| {
                        format!("{i} is out of range ({}..={})", <$t>::MIN, <$t>::MAX)
                    }),
                    other => expected("an integer", other),
                }
            }
        }
    )*};
}

integer_value!(u8, u16, u32, u64, usize, i32);

impl ConfigValue for f32 {
    fn kind() -> String {
        "number".into()
    }

    /// The shortest decimal that reads back to the `f32` (`0.04`, not the `f64` widening
    /// `0.03999999910593033`), so exports and `config get` show what the user wrote.
    fn to_toml(&self) -> Option<Value> {
        let shortest: f64 = self.to_string().parse().unwrap_or(f64::from(*self));
        Some(Value::Float(shortest))
    }

    fn from_toml(v: &Value) -> Result<Self, String> {
        match v {
            Value::Float(f) => Ok(*f as f32),
            Value::Integer(i) => Ok(*i as f32),
            other => expected("a number", other),
        }
    }
}

impl ConfigValue for bool {
    fn kind() -> String {
        "true/false".into()
    }

    fn to_toml(&self) -> Option<Value> {
        Some(Value::Boolean(*self))
    }

    fn from_toml(v: &Value) -> Result<Self, String> {
        match v {
            Value::Boolean(b) => Ok(*b),
            other => expected("true or false", other),
        }
    }
}

impl ConfigValue for String {
    fn kind() -> String {
        "text".into()
    }

    fn to_toml(&self) -> Option<Value> {
        Some(Value::String(self.clone()))
    }

    fn from_toml(v: &Value) -> Result<Self, String> {
        match v {
            Value::String(s) => Ok(s.clone()),
            other => expected("a string", other),
        }
    }
}

impl ConfigValue for PathBuf {
    fn kind() -> String {
        "path".into()
    }

    fn to_toml(&self) -> Option<Value> {
        Some(Value::String(self.to_string_lossy().into_owned()))
    }

    fn from_toml(v: &Value) -> Result<Self, String> {
        match v {
            Value::String(s) => Ok(PathBuf::from(s)),
            other => expected("a path string", other),
        }
    }
}

impl<T: ConfigValue> ConfigValue for Option<T> {
    fn kind() -> String {
        format!("{} (optional)", T::kind())
    }

    fn to_toml(&self) -> Option<Value> {
        self.as_ref().and_then(T::to_toml)
    }

    fn from_toml(v: &Value) -> Result<Self, String> {
        T::from_toml(v).map(Some)
    }
}

impl ConfigValue for Vec<PathBuf> {
    fn kind() -> String {
        "list of paths".into()
    }

    fn to_toml(&self) -> Option<Value> {
        Some(Value::Array(
            self.iter().filter_map(ConfigValue::to_toml).collect(),
        ))
    }

    fn from_toml(v: &Value) -> Result<Self, String> {
        match v {
            Value::Array(items) => items.iter().map(PathBuf::from_toml).collect(),
            other => expected("a list of paths", other),
        }
    }
}

/// Pixel coordinates `[x, y]` (the bad-pixel list).
impl ConfigValue for Vec<[u32; 2]> {
    fn kind() -> String {
        "list of [x, y]".into()
    }

    fn to_toml(&self) -> Option<Value> {
        Some(Value::Array(
            self.iter()
                .map(|&[x, y]| Value::Array(vec![x.into(), y.into()]))
                .collect(),
        ))
    }

    fn from_toml(v: &Value) -> Result<Self, String> {
        let Value::Array(items) = v else {
            return expected("a list of [x, y] pairs", v);
        };
        items
            .iter()
            .map(|item| match item {
                Value::Array(xy) if xy.len() == 2 => {
                    Ok([u32::from_toml(&xy[0])?, u32::from_toml(&xy[1])?])
                }
                other => Err(format!("expected [x, y], got {other}")),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_refuse_what_does_not_fit() {
        assert_eq!(u16::from_toml(&Value::Integer(7)), Ok(7));
        assert!(
            u16::from_toml(&Value::Integer(70_000))
                .unwrap_err()
                .contains("0..=65535")
        );
        assert!(
            u32::from_toml(&Value::String("7".into()))
                .unwrap_err()
                .contains("integer")
        );
        assert_eq!(f32::from_toml(&Value::Integer(30)), Ok(30.0));
        assert_eq!(0.04f32.to_toml().unwrap().to_string(), "0.04");
        assert_eq!(Option::<u32>::None.to_toml(), None);
        let px: Vec<[u32; 2]> = vec![[1, 2], [3, 4]];
        let v = px.to_toml().unwrap();
        assert_eq!(v.to_string(), "[[1, 2], [3, 4]]");
        assert_eq!(Vec::<[u32; 2]>::from_toml(&v).unwrap(), px);
        let short = Value::Array(vec![Value::Array(vec![Value::Integer(1)])]);
        assert!(Vec::<[u32; 2]>::from_toml(&short).is_err());
    }
}
