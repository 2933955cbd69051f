//! The sensor itself: drops the capture reports, and silences that mean it has lost sight.

#[allow(clippy::wildcard_imports)]
use super::*;

impl Watch {
    /// The capture reports `total` frames dropped so far.
    pub fn drops(&mut self, ts: Micros, total: u64) {
        if total > self.drops_seen {
            let new = total - self.drops_seen;
            self.drops_seen = total;
            let a = Alert::new(
                ts,
                Rule::CaptureDrops,
                format!("the capture dropped {new} frames ({total} in all)"),
            )
            .with("dropped", new)
            .with("dropped_total", total);
            self.raise(key_hash((Rule::CaptureDrops, total)), a);
        }
    }

    /// Exported records arrive in the order flows end, not start: they widen the observed
    /// window (for beacon scoring) without the packet clock's jump and silence checks, which
    /// for flow input run on the collector's wall clock ([`Watch::input_silent`]).
    pub(super) fn observe(&mut self, ts: Micros) {
        let first = *self.first_ts.get_or_insert(ts);
        self.first_ts = Some(first.min(ts));
        let last = self.last_ts.unwrap_or(ts).max(ts);
        self.last_ts = Some(last);
        if self.last_beacon_pass == 0 {
            self.last_beacon_pass = last;
        }
        if last.saturating_sub(self.last_beacon_pass) >= 3600 * SECOND {
            self.beacon_pass();
            self.last_beacon_pass = last;
        }
    }

    /// The input (a collector socket, a live interface) has been silent since `since`, by the
    /// wall clock `now`: raises [`Rule::SensorSilent`] once per silence when that is too long.
    pub fn input_silent(&mut self, now: Micros, since: Micros) {
        let silence = i64::try_from(self.t.silence_secs).unwrap_or(i64::MAX / SECOND);
        if now.saturating_sub(since) > silence.saturating_mul(SECOND) {
            let a = Alert::new(
                now,
                Rule::SensorSilent,
                format!(
                    "nothing received for {} s (allowed {} s)",
                    (now - since) / SECOND,
                    self.t.silence_secs
                ),
            )
            .with("silent_from", since);
            self.raise(key_hash((Rule::SensorSilent, since)), a);
        }
    }
}
