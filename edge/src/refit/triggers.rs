//! When an automatic refit is due: no pattern yet, the pattern is too old, the sensor
//! temperature drifted from the pattern's, or corrected frames got rougher than right after the
//! last fit; never sooner than `fit.triggers.min_interval_s` after the last attempt.

use crate::config::TriggerConfig;
use formats::pattern::StoredPattern;

/// What the decision looks at.
pub struct Inputs<'a> {
    /// `fit.triggers`.
    pub triggers: &'a TriggerConfig,
    /// `fit.fit_on_start`.
    pub fit_on_start: bool,
    /// The pattern in use.
    pub pattern: Option<&'a StoredPattern>,
    /// Whether the last automatic attempt was less than `min_interval_s` ago.
    pub too_soon: bool,
    /// Now, ms since the Unix epoch.
    pub unix_ms: u64,
    /// Sensor temperature of the latest frame.
    pub temp_now: Option<f32>,
    /// Roughness of the latest measured corrected frame.
    pub roughness_now: Option<f32>,
    /// Roughness measured a little after the pattern was installed.
    pub roughness_baseline: Option<f32>,
}

/// Why a refit is due, if one is.
pub fn refit_reason(i: &Inputs<'_>) -> Option<String> {
    let t = i.triggers;
    if i.too_soon {
        // Also retries after `min_interval_s` when an earlier attempt failed or was aborted.
        return None;
    }
    let Some(p) = i.pattern else {
        return i.fit_on_start.then(|| "no pattern yet".to_string());
    };
    let age_s = i.unix_ms.saturating_sub(p.meta.unix_ms) / 1000;
    if t.max_age_s > 0 && age_s > t.max_age_s {
        return Some(format!("pattern age {age_s} s > {} s", t.max_age_s));
    }
    if let (true, Some(tp), Some(tn)) = (t.temp_drift_c > 0.0, p.meta.sensor_temp_c, i.temp_now)
        && (tn - tp).abs() > t.temp_drift_c
    {
        return Some(format!("sensor temperature drifted {:.2} °C", tn - tp));
    }
    if let (true, Some(base), Some(r)) = (
        t.roughness_rise > 0.0,
        i.roughness_baseline,
        i.roughness_now,
    ) && r > base * (1.0 + t.roughness_rise)
    {
        return Some(format!("roughness rose from {base:.4} to {r:.4}"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use formats::pattern::PatternMeta;

    #[test]
    fn each_trigger_fires_past_its_threshold_only() {
        let triggers = TriggerConfig {
            max_age_s: 100,
            temp_drift_c: 1.0,
            roughness_rise: 0.25,
            min_interval_s: 60,
        };
        let p = StoredPattern {
            width: 1,
            height: 1,
            data: vec![0.0],
            meta: PatternMeta {
                unix_ms: 1_000_000,
                sensor_temp_c: Some(30.0),
                ..PatternMeta::default()
            },
        };
        let calm = Inputs {
            triggers: &triggers,
            fit_on_start: true,
            pattern: Some(&p),
            too_soon: false,
            unix_ms: 1_050_000,
            temp_now: Some(30.5),
            roughness_now: Some(1.2),
            roughness_baseline: Some(1.0),
        };
        assert_eq!(refit_reason(&calm), None);
        let old = Inputs {
            unix_ms: 1_200_000,
            ..calm
        };
        assert!(refit_reason(&old).unwrap().contains("age"));
        let warm = Inputs {
            temp_now: Some(31.5),
            ..calm
        };
        assert!(refit_reason(&warm).unwrap().contains("temperature"));
        let rough = Inputs {
            roughness_now: Some(1.3),
            ..calm
        };
        assert!(refit_reason(&rough).unwrap().contains("roughness"));
        assert_eq!(
            refit_reason(&Inputs {
                too_soon: true,
                ..rough
            }),
            None
        );
        let none = Inputs {
            pattern: None,
            ..calm
        };
        assert_eq!(refit_reason(&none).as_deref(), Some("no pattern yet"));
        assert_eq!(
            refit_reason(&Inputs {
                fit_on_start: false,
                ..none
            }),
            None
        );
    }
}
