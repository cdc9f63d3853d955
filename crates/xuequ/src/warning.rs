//! 学位预警 (seat warnings): a level per school and per district from demand / seats against
//! thresholds set in `policy.toml`:
//!
//! ```toml
//! [seat_warning]      # shares of seats; defaults shown
//! yellow = 0.90       # demand above 90 % of seats: 黄色预警
//! orange = 0.95       # above 95 %: 橙色预警
//! red = 1.00          # above 100 % (more demand than seats): 红色预警
//! ```
//!
//! A school's demand is its first-choice applicants (its zone's children and those who chose
//! it first); a district's demand is the applicants living in it, against the seats of its
//! schools of the stage. The level is the highest whose threshold the ratio exceeds
//! (strictly); a school or district without seats but with demand is red.

use serde::Deserialize;

/// Thresholds of the warning levels, as shares of seats.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SeatWarning {
    /// 黄色预警 above this ratio (default 0.90).
    pub yellow: f64,
    /// 橙色预警 above this ratio (default 0.95).
    pub orange: f64,
    /// 红色预警 above this ratio (default 1.00).
    pub red: f64,
}

impl Default for SeatWarning {
    fn default() -> Self {
        SeatWarning {
            yellow: 0.90,
            orange: 0.95,
            red: 1.00,
        }
    }
}

/// A warning level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Level {
    /// Demand within the yellow threshold.
    None,
    /// 黄色预警.
    Yellow,
    /// 橙色预警.
    Orange,
    /// 红色预警.
    Red,
}

impl Level {
    /// The code written to CSV files: `none`, `yellow`, `orange`, `red`.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::None => "none",
            Level::Yellow => "yellow",
            Level::Orange => "orange",
            Level::Red => "red",
        }
    }

    /// The Chinese name: 无, 黄色预警, 橙色预警, 红色预警.
    pub fn chinese(self) -> &'static str {
        match self {
            Level::None => "无",
            Level::Yellow => "黄色预警",
            Level::Orange => "橙色预警",
            Level::Red => "红色预警",
        }
    }
}

impl SeatWarning {
    /// The level of `demand` against `seats`.
    pub fn level(&self, demand: u64, seats: u64) -> Level {
        if seats == 0 {
            return if demand > 0 { Level::Red } else { Level::None };
        }
        let r = demand as f64 / seats as f64;
        if r > self.red {
            Level::Red
        } else if r > self.orange {
            Level::Orange
        } else if r > self.yellow {
            Level::Yellow
        } else {
            Level::None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_follow_the_thresholds() {
        let w = SeatWarning::default();
        assert_eq!(w.level(90, 100), Level::None);
        assert_eq!(w.level(91, 100), Level::Yellow);
        assert_eq!(w.level(95, 100), Level::Yellow);
        assert_eq!(w.level(96, 100), Level::Orange);
        assert_eq!(w.level(100, 100), Level::Orange);
        assert_eq!(w.level(101, 100), Level::Red);
        assert_eq!(w.level(1, 0), Level::Red);
        assert_eq!(w.level(0, 0), Level::None);
    }
}
