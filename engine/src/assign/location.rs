//! A resource's own scores before colocations: node availability, location
//! constraints and rules, opt-in clusters, operator moves (Pacemaker's
//! `pcmk__apply_locations`, `generate_location_rule`, pcmk_sched_location.c),
//! and a group's members summed.

use super::*;

impl Assigner<'_, '_> {
    /// Scores from the unit itself: node availability, location constraints,
    /// fail counts and stickiness, summed over a group's members.
    pub(super) fn base_scores(&self, u: RscId) -> Scores {
        let cx = self.cx;
        let mut s = self.node_bans(&cx.leaves(u));
        let mut allowed_by_location = vec![false; cx.nodes.len()];
        let leaves: Vec<RscId> = cx.leaves(u).into_iter().filter(|m| *m != u).collect();
        // The unit's own constraints, then each member's. A group member whose
        // preferences would leave the group nowhere to run is left out, and so
        // are the members after it (they follow it): the group runs without
        // them, as Pacemaker places a group by its first member.
        self.constraint_scores(u, &mut s, &mut allowed_by_location);
        let mut parts: Vec<Scores> = Vec::new();
        for &m in &leaves {
            let mut part = Scores::new(cx.nodes.len());
            self.constraint_scores(m, &mut part, &mut allowed_by_location);
            parts.push(part);
        }
        if leaves.is_empty() {
            self.failure_scores(u, &mut s);
            self.allow_where_left(u, &mut allowed_by_location);
        }
        let grouped = leaves.len() > 1;
        for (i, (&m, part)) in leaves.iter().zip(parts).enumerate() {
            let mut with = s.clone();
            for (ni, contributions) in part.parts.into_iter().enumerate() {
                for c in contributions {
                    with.add(ni, c.score, c.source);
                }
            }
            self.failure_scores(m, &mut with);
            self.allow_where_left(m, &mut allowed_by_location);
            let runnable = |x: &Scores| (0..cx.nodes.len()).any(|n| x.runnable(n));
            if grouped && i > 0 && runnable(&s) && !runnable(&with) {
                break;
            }
            s = with;
        }
        self.opt_in(&mut s, &allowed_by_location);
        s
    }

    /// The scores Pacemaker keeps for one group member on its own (its
    /// `allowed_nodes`): the member's location constraints, failures and
    /// stickiness, and for the first member the group's location constraints
    /// (`pcmk__group_apply_location` gives the later members the group's
    /// constraints at score 0: they follow the first one).
    pub(super) fn member_scores(&self, group: RscId, m: RscId) -> Scores {
        let mut s = self.node_bans(&[m]);
        let mut allowed = vec![false; self.cx.nodes.len()];
        if self.cx.leaves(group).first() == Some(&m) {
            self.constraint_scores(group, &mut s, &mut allowed);
        } else {
            let mut at_zero = Scores::new(self.cx.nodes.len());
            self.constraint_scores(group, &mut at_zero, &mut allowed);
        }
        self.constraint_scores(m, &mut s, &mut allowed);
        self.failure_scores(m, &mut s);
        self.allow_where_left(m, &mut allowed);
        self.opt_in(&mut s, &allowed);
        s
    }

    /// In an opt-in cluster, a resource left as it is (unmanaged, or
    /// blocked by a failure) may stay where it is active: the INFINITY
    /// location `native_add_running` gives it there names the node, which
    /// makes it allowed (`resource_location` adds the node).
    fn allow_where_left(&self, m: RscId, allowed: &mut [bool]) {
        let Some(info) = self.cx.rsc.get(m.index()) else {
            return;
        };
        if info.blocked.is_none() || self.cx.clone_of(m).is_some() {
            return;
        }
        for &(ni, _) in &info.current {
            if let Some(a) = allowed.get_mut(ni) {
                *a = true;
            }
        }
    }

    /// Nodes nothing may run on: unavailable ones, and without quorum under
    /// `no-quorum-policy freeze`, those where none of `here` runs.
    pub(super) fn node_bans(&self, here: &[RscId]) -> Scores {
        let cx = self.cx;
        let mut s = Scores::new(cx.nodes.len());
        // Without quorum under `freeze`, nothing may go up a role
        // (`pcmk__primitive_assign`): what is stopped stays stopped, but what
        // runs may still move within the partition. A clone's instances stay
        // where they run (no instance may start), and so does everything
        // while an unclean node cannot be fenced (Pacemaker's finer rule:
        // starts that need fencing wait for it).
        let frozen = !cx.may_start() && cx.p.cluster.no_quorum_policy == NoQuorumPolicy::Freeze;
        let runs_on: Vec<usize> = here
            .iter()
            .filter_map(|m| cx.rsc.get(m.index()))
            .flat_map(|i| i.current.iter().map(|(n, _)| *n))
            .collect();
        let stays_put = here.iter().any(|m| cx.clone_of(*m).is_some())
            || cx
                .nodes
                .iter()
                .any(|n| n.status == halo_model::NodeStatus::Unclean && !n.fenceable);
        for (ni, node) in cx.nodes.iter().enumerate() {
            if let Some(why) = node.unavailable() {
                s.add(
                    ni,
                    Score::NEG_INF,
                    Source::NodeUnavailable {
                        why: format!("{} {why}", node.name),
                    },
                );
            }
            let may_be_here = if stays_put {
                runs_on.contains(&ni)
            } else {
                !runs_on.is_empty()
            };
            if frozen && !may_be_here {
                s.add(ni, Score::NEG_INF, Source::NoQuorum);
            }
        }
        s
    }

    /// In an opt-in cluster, a node no location constraint names (whatever
    /// its score) is banned.
    pub(super) fn opt_in(&self, s: &mut Scores, allowed_by_location: &[bool]) {
        if !self.cx.p.cluster.symmetric {
            for (ni, allowed) in allowed_by_location.iter().enumerate() {
                if !allowed {
                    s.add(ni, Score::NEG_INF, Source::OptIn);
                }
            }
        }
    }

    /// Location constraints and operator moves of `m`.
    pub(super) fn constraint_scores(
        &self,
        m: RscId,
        s: &mut Scores,
        allowed_by_location: &mut [bool],
    ) {
        let cx = self.cx;
        for c in cx.locations(m) {
            let ConstraintKind::Location { target, score, .. } = &c.kind else {
                continue;
            };
            for (ni, node) in cx.nodes.iter().enumerate() {
                let hit = match target {
                    LocationTarget::Nodes(ns) => ns.contains(&node.name),
                    LocationTarget::Rule(rule) => rule.eval(&node.name, &node.attrs),
                };
                if hit {
                    let score = score.on(&node.attrs);
                    s.add(
                        ni,
                        score,
                        Source::Location {
                            origin: c.origin,
                            rsc: cx.name(m).to_string(),
                        },
                    );
                    // Any score names the node an allowed one, a negative
                    // one too: stickiness may then outweigh it
                    // (`pcmk__apply_location` adds the node to the
                    // resource's allowed nodes with the constraint's score).
                    if let Some(a) = allowed_by_location.get_mut(ni) {
                        *a = true;
                    }
                }
            }
        }
        for oc in cx.s.operator.iter().filter(|o| o.rsc == cx.name(m)) {
            if let Some(ni) = cx.node_index(&oc.node) {
                s.add(
                    ni,
                    oc.score,
                    Source::Operator {
                        rsc: oc.rsc.clone(),
                    },
                );
                if let Some(a) = allowed_by_location.get_mut(ni) {
                    *a = true;
                }
            }
        }
    }
}
