//! Placement strategies: the order resources are assigned in, and the nodes
//! without the capacity a resource and what must run with it need
//! (Pacemaker's `pcmk__sort_resources` with utilization,
//! `pcmk__ban_insufficient_capacity`, `compare_capacity`,
//! pcmk_sched_utilization.c).

use super::*;

impl Assigner<'_, '_> {
    /// Units in the order Pacemaker assigns them under a placement strategy:
    /// priority, then the score on the node each runs on now, then the scores
    /// node by node (names in order; unavailable nodes count as -inf).
    pub(super) fn sort_for_utilization(&self, units: &mut [RscId]) {
        let cx = self.cx;
        let scored: Vec<(RscId, i64, Vec<Score>, Score)> = units
            .iter()
            .map(|&u| {
                let s = self.base_scores(u);
                let current = self
                    .current_instances(u)
                    .first()
                    .map_or(Score::NEG_INF, |(n, _)| s.total(*n));
                let per_node = (0..cx.nodes.len())
                    .map(|n| {
                        if cx.nodes.get(n).is_some_and(|x| x.unavailable().is_some()) {
                            Score::NEG_INF
                        } else {
                            s.total(n)
                        }
                    })
                    .collect();
                (
                    u,
                    cx.p.meta(u, |m| m.priority).unwrap_or(0),
                    per_node,
                    current,
                )
            })
            .collect();
        // The node list: available nodes first; under balanced, the ones with
        // more capacity first; then by name.
        let mut nodes: Vec<usize> = (0..cx.nodes.len()).collect();
        let balanced = cx.p.cluster.strategy == PlacementStrategy::Balanced;
        merge_sort(&mut nodes, &|&a: &usize, &b: &usize| {
            let down = |n: usize| cx.nodes.get(n).is_some_and(|x| x.unavailable().is_some());
            down(a)
                .cmp(&down(b))
                .then_with(|| {
                    if balanced {
                        self.capacity_vote(a, b)
                    } else {
                        std::cmp::Ordering::Equal
                    }
                })
                .then(a.cmp(&b))
        });
        let mut order: Vec<usize> = (0..scored.len()).collect();
        merge_sort(&mut order, &|&a: &usize, &b: &usize| {
            let (x, y) = (&scored[a], &scored[b]);
            y.1.cmp(&x.1).then(y.3.cmp(&x.3)).then_with(|| {
                nodes
                    .iter()
                    .map(|&n| y.2[n].cmp(&x.2[n]))
                    .find(|o| *o != std::cmp::Ordering::Equal)
                    .unwrap_or(std::cmp::Ordering::Equal)
            })
        });
        let sorted: Vec<RscId> = order.iter().map(|&i| scored[i].0).collect();
        units.copy_from_slice(&sorted);
    }

    /// What a unit uses: the sum over its primitives (one instance of a clone).
    pub(super) fn utilization(&self, u: RscId) -> BTreeMap<String, i64> {
        let mut need: BTreeMap<String, i64> = BTreeMap::new();
        for m in self.cx.leaves(u) {
            if let Some(p) = self.cx.p.resource(m).and_then(|r| r.primitive()) {
                for (k, v) in &p.utilization {
                    *need.entry(k.clone()).or_default() += v;
                }
            }
        }
        need
    }

    /// Why group member `m` does not fit on `n`, its group's node, with
    /// what the members before it took: after the first member, each is
    /// held there by its colocation with the one before, so Pacemaker's
    /// capacity check (`pcmk__ban_insufficient_capacity`) comes down to
    /// whether it fits alone; one that does not stops, with the members
    /// after it.
    pub(super) fn member_fits(&self, m: RscId, n: usize) -> Result<(), String> {
        if self.cx.p.cluster.strategy == PlacementStrategy::Default {
            return Ok(());
        }
        let need = self.utilization(m);
        if self.fits(n, &need) {
            return Ok(());
        }
        Err(format!(
            "{} does not fit on {}: not enough {} left",
            self.cx.name(m),
            self.cx.node_name(n),
            self.short_of(n, &need)
        ))
    }

    /// The attributes of `need` that node `n` has not enough of left.
    fn short_of(&self, n: usize, need: &BTreeMap<String, i64>) -> String {
        let left = self.remaining.get(n);
        need.iter()
            .filter(|(k, v)| **v > left.and_then(|l| l.get(*k)).copied().unwrap_or(0))
            .map(|(k, _)| k.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub(super) fn fits(&self, n: usize, need: &BTreeMap<String, i64>) -> bool {
        let left = self.remaining.get(n);
        need.iter()
            .all(|(k, v)| *v <= left.and_then(|l| l.get(k)).copied().unwrap_or(0))
    }

    /// Takes what primitive `m` uses from node `n`'s capacity.
    pub(super) fn consume(&mut self, m: RscId, n: usize) {
        if self.cx.p.cluster.strategy == PlacementStrategy::Default {
            return;
        }
        let Some(p) = self.cx.p.resource(m).and_then(|r| r.primitive()) else {
            return;
        };
        if let Some(left) = self.remaining.get_mut(n) {
            for (k, v) in &p.utilization {
                let e = left.entry(k.clone()).or_insert(0);
                *e = (*e - v).max(0);
            }
        }
    }

    /// Pacemaker's comparison of free capacity: a vote over the attributes
    /// (more of one counts one), not a sum. `Less` means `a` has more.
    pub(super) fn capacity_vote(&self, a: usize, b: usize) -> std::cmp::Ordering {
        let empty = BTreeMap::new();
        let (la, lb) = (
            self.remaining.get(a).unwrap_or(&empty),
            self.remaining.get(b).unwrap_or(&empty),
        );
        let mut vote = 0i32;
        for k in la.keys().chain(lb.keys().filter(|k| !la.contains_key(*k))) {
            let (x, y) = (
                la.get(k).copied().unwrap_or(0),
                lb.get(k).copied().unwrap_or(0),
            );
            vote += match x.cmp(&y) {
                std::cmp::Ordering::Greater => -1,
                std::cmp::Ordering::Less => 1,
                std::cmp::Ordering::Equal => 0,
            };
        }
        vote.cmp(&0)
    }

    /// Bans the nodes where the unit (with the units that must run with it and
    /// are not placed yet) does not fit. When it fits nowhere as a whole, only
    /// nodes where it does not fit alone are banned, and the node with the
    /// most room is returned as the one to prefer.
    ///
    /// A group (cloned or not) is placed by its first member
    /// (`pcmk__group_assign`): the one that must fit alone when the whole
    /// does not fit anywhere; each later member is checked where the group
    /// goes (`member_fits`).
    pub(super) fn ban_insufficient_capacity(&self, u: RscId, s: &mut Scores) -> Option<usize> {
        let mut need = self.utilization(u);
        // (A primitive's first leaf is itself; a clone's its instance's.)
        let own = match self.cx.leaves(u).first() {
            Some(&first) => self.utilization(first),
            None => need.clone(),
        };
        // Units that must run with it (infinite colocations, followed
        // through) and are not placed yet; a clone only brings clones along.
        let clone = self.cx.clone_of(u).is_some();
        let mut seen = vec![u];
        let mut todo = vec![u];
        while let Some(x) = todo.pop() {
            for c in self.cx.colocations_of_primary(x) {
                let ConstraintKind::Colocation {
                    dependent, score, ..
                } = &c.kind
                else {
                    continue;
                };
                let d = self.unit(*dependent);
                if !score.is_inf()
                    || seen.contains(&d)
                    || self.progress.get(d.index()) == Some(&Progress::Done)
                    || (clone && self.cx.clone_of(d).is_none())
                {
                    continue;
                }
                seen.push(d);
                todo.push(d);
                for (k, v) in self.utilization(d) {
                    *need.entry(k).or_default() += v;
                }
            }
        }
        if need.is_empty() {
            return None;
        }
        let examined: Vec<usize> = (0..self.cx.nodes.len())
            .filter(|&n| s.runnable(n))
            .collect();
        let (wanted, prefer) = if examined.iter().any(|&n| self.fits(n, &need)) {
            (&need, None)
        } else {
            let mut most: Option<usize> = None;
            for &n in &examined {
                if most.is_none_or(|m| self.capacity_vote(n, m) == std::cmp::Ordering::Less) {
                    most = Some(n);
                }
            }
            (&own, most)
        };
        for &n in &examined {
            if !self.fits(n, wanted) {
                let what = self.short_of(n, wanted);
                s.add(n, Score::NEG_INF, Source::Capacity { what });
            }
        }
        prefer.filter(|&n| s.runnable(n))
    }
}
