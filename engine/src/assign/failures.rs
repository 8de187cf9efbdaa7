//! What failures and stickiness add to a primitive's scores: fail counts
//! against migration-threshold, hard errors, resources left where they are
//! (Pacemaker's `pcmk__threshold_reached`, `apply_stickiness`,
//! `native_add_running`).

use super::*;

impl Assigner<'_, '_> {
    /// Fail counts, hard errors and stickiness of the primitive `m`.
    pub(super) fn failure_scores(&self, m: RscId, s: &mut Scores) {
        let cx = self.cx;
        let Some(info) = cx.rsc.get(m.index()) else {
            return;
        };
        let threshold =
            cx.p.meta(m, |x| x.migration_threshold)
                .unwrap_or(halo_model::FailCount::INFINITE);
        for (&ni, &count) in &info.failcount {
            if threshold > 0 && count >= threshold {
                s.add(
                    ni,
                    Score::NEG_INF,
                    Source::FailCount {
                        rsc: cx.name(m).to_string(),
                        count,
                        threshold,
                    },
                );
            }
        }
        for &(ni, rc) in &info.banned {
            s.add(
                ni,
                Score::NEG_INF,
                Source::HardError {
                    rsc: cx.name(m).to_string(),
                    rc,
                },
            );
        }
        if info.banned_everywhere {
            for ni in 0..cx.nodes.len() {
                s.add(
                    ni,
                    Score::NEG_INF,
                    Source::FailedStopped {
                        rsc: cx.name(m).to_string(),
                    },
                );
            }
        }
        // A resource left as it is (unmanaged, or blocked by a failure) is
        // held wherever it is active (`native_add_running` gives it INFINITY
        // there), and what must run with it is drawn there through it.
        if info.blocked.is_some() && cx.clone_of(m).is_none() {
            for &(ni, _) in &info.current {
                s.add(
                    ni,
                    Score::INF,
                    Source::Unmanaged {
                        rsc: cx.name(m).to_string(),
                    },
                );
            }
        }
        // Stickiness holds a resource active on exactly one node there, failed
        // or not (a failure below the threshold is recovered in place). A
        // clone's goes to each instance, not to the clone's own scores
        // (`apply_stickiness`): the distribution weighs it.
        let stickiness = cx.p.meta(m, |x| x.stickiness).unwrap_or(Score::ZERO);
        if stickiness > Score::ZERO && cx.clone_of(m).is_none() {
            if let [(ni, _)] = info.current[..] {
                s.add(
                    ni,
                    stickiness,
                    Source::Stickiness {
                        rsc: cx.name(m).to_string(),
                    },
                );
            }
        }
    }
}
