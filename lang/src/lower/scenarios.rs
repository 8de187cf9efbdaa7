//! `test` blocks: `given` facts, `when` events and `expect` assertions.

use super::cursor::suggest;
use super::cursor::{unknown_keyword, Cursor, Res};
use super::Lower;
use crate::diag::{Code, Diagnostic};
use crate::syntax::Stmt;
use halo_model::{Event, Expectation, Fact, OpAction, Role, Scenario, Step};

const TEST_STMTS: &[&str] = &["given", "when", "expect"];

impl Lower {
    pub(super) fn scenario(&mut self, s: &Stmt) -> Res<()> {
        let mut c = Cursor::new(s);
        c.word("test")?;
        let name = c.name("the test's name in quotes")?;
        c.end()?;
        if self.policy.tests.iter().any(|t| t.name == name.text) {
            return Err(Diagnostic::error(
                Code::Duplicate,
                name.span.clone(),
                format!("test `{}` is declared twice", name.text),
            )
            .label("second test with this name")
            .help("give each test a distinct name"));
        }
        let mut scenario = Scenario {
            name: name.text.clone(),
            given: Vec::new(),
            steps: Vec::new(),
            origin: self.origin(&name.span),
        };
        for st in s.block.iter().flat_map(|b| &b.stmts) {
            let r = self.test_stmt(st, &mut scenario);
            self.report(r);
        }
        let wrote_expect = s
            .block
            .iter()
            .flat_map(|b| &b.stmts)
            .any(|st| st.keyword().is_some_and(|k| k.text == "expect"));
        if !wrote_expect {
            self.diags.push(
                Diagnostic::error(
                    Code::EmptyTest,
                    name.span.clone(),
                    format!("test `{}` expects nothing", name.text),
                )
                .label("no `expect`")
                .help("add `expect { RESOURCE running on NODE }` after the events"),
            );
        }
        self.policy.tests.push(scenario);
        Ok(())
    }

    fn test_stmt(&mut self, s: &Stmt, sc: &mut Scenario) -> Res<()> {
        let mut c = Cursor::new(s);
        let Some(kw) = c.next() else {
            return Err(Diagnostic::error(
                Code::Syntax,
                s.span.clone(),
                "expected `given`, `when` or `expect`",
            )
            .label("not a test statement")
            .help("a test is `given { ... }`, then `when EVENT` and `expect ...` lines"));
        };
        match kw.text.as_str() {
            "given" => {
                c.end()?;
                if !sc.steps.is_empty() {
                    return Err(Diagnostic::error(
                        Code::LateGiven,
                        kw.span.clone(),
                        "`given` after `when` or `expect`",
                    )
                    .label("too late")
                    .help("state the starting state first; later changes are `when` events"));
                }
                for st in s.block.iter().flat_map(|b| &b.stmts) {
                    let mut fc = Cursor::new(st);
                    let r = self.fact(&mut fc).and_then(|f| {
                        fc.end()?;
                        fc.no_block()?;
                        Ok(f)
                    });
                    match r {
                        Ok(f) => sc.given.push(f),
                        Err(d) => self.diags.push(d),
                    }
                }
                Ok(())
            }
            "when" => {
                let event = self.event(&mut c)?;
                c.end()?;
                c.no_block()?;
                let origin = self.origin(&s.span);
                sc.steps.push(Step::When { event, origin });
                Ok(())
            }
            "expect" => {
                if c.at_end() {
                    for st in s.block.iter().flat_map(|b| &b.stmts) {
                        let mut ec = Cursor::new(st);
                        let r = self.expectation(&mut ec).and_then(|e| {
                            ec.end()?;
                            ec.no_block()?;
                            Ok(e)
                        });
                        match r {
                            Ok(expectation) => {
                                let origin = self.origin(&st.span);
                                sc.steps.push(Step::Expect {
                                    expectation,
                                    origin,
                                });
                            }
                            Err(d) => self.diags.push(d),
                        }
                    }
                    return Ok(());
                }
                let expectation = self.expectation(&mut c)?;
                c.end()?;
                c.no_block()?;
                let origin = self.origin(&s.span);
                sc.steps.push(Step::Expect {
                    expectation,
                    origin,
                });
                Ok(())
            }
            _ => Err(unknown_keyword(kw, "in a test", TEST_STMTS)),
        }
    }

    fn nodes_after_on(&self, c: &mut Cursor<'_>) -> Res<Vec<String>> {
        c.word("on")?;
        let mut nodes = Vec::new();
        while let Some(t) = c.peek() {
            if t.is_word("times") || t.is_word("rc") {
                break;
            }
            c.next();
            nodes.push(self.node_ref(t)?);
        }
        if nodes.is_empty() {
            return Err(c.expected("a node name"));
        }
        Ok(nodes)
    }

    fn role_word(c: &mut Cursor<'_>) -> Option<Role> {
        let role = match c.peek_word()? {
            "running" | "started" => Role::Started,
            "promoted" => Role::Promoted,
            "unpromoted" => Role::Unpromoted,
            _ => return None,
        };
        c.next();
        Some(role)
    }

    fn fact(&mut self, c: &mut Cursor<'_>) -> Res<Fact> {
        if c.eat_word("node") {
            let node = self.node_ref(c.name("a node name")?)?;
            let t = c.name("`down`, `standby` or `maintenance`")?;
            return Ok(match t.text.as_str() {
                "down" | "offline" => Fact::NodeDown(node),
                "standby" => Fact::NodeStandby(node),
                "maintenance" => Fact::NodeMaintenance(node),
                _ => {
                    return Err(super::bad_choice(
                        t,
                        "node state",
                        &["down", "standby", "maintenance"],
                    ))
                }
            });
        }
        if c.eat_word("time") {
            return Ok(Fact::Time(c.integer("the time in seconds")?.0));
        }
        let r = self.rsc_ref(c, "a resource or `node`")?;
        if let Some(role) = Self::role_word(c) {
            let nodes = self.nodes_after_on(c)?;
            let promotable = self
                .policy
                .resource(r.id)
                .is_some_and(|x| x.is_promotable());
            let role = match role {
                Role::Started if promotable => Role::Unpromoted,
                Role::Promoted | Role::Unpromoted if !promotable => {
                    return Err(not_promotable(&r.name, &r.span));
                }
                other => other,
            };
            return Ok(Fact::Running {
                rsc: r.name,
                role,
                nodes,
            });
        }
        if c.eat_word("failed") {
            let (count, _) = c.integer("how many times")?;
            c.word("times")?;
            let node = self.nodes_after_on(c)?.remove(0);
            let count = u32::try_from(count.max(0)).unwrap_or(u32::MAX);
            return Ok(Fact::Failures {
                rsc: r.name,
                node,
                count,
            });
        }
        if c.eat_word("promotion") {
            let (score, _) = c.integer("the promotion score")?;
            let node = self.nodes_after_on(c)?.remove(0);
            return Ok(Fact::Promotion {
                rsc: r.name,
                node,
                score,
            });
        }
        Err(with_suggestion(
            c,
            "`running on`, `promoted on`, `failed N times on` or `promotion N on`",
            &["running", "promoted", "unpromoted", "failed", "promotion"],
        ))
    }

    fn event(&mut self, c: &mut Cursor<'_>) -> Res<Event> {
        const EVENTS: &[&str] = &[
            "node",
            "cleanup",
            "move",
            "ban",
            "clear",
            "RESOURCE.OP fails on NODE",
            "DURATION passes",
        ];
        if c.eat_word("node") {
            let node = self.node_ref(c.name("a node name")?)?;
            let t = c.name("what happens to the node")?;
            return Ok(match t.text.as_str() {
                "fails" => Event::NodeFails(node),
                "stops" => Event::NodeStops(node),
                "returns" => Event::NodeReturns(node),
                "standby" => Event::NodeStandby(node),
                "unstandby" => Event::NodeUnstandby(node),
                "maintenance" => Event::NodeMaintenance(node),
                "ready" => Event::NodeReady(node),
                _ => {
                    return Err(super::bad_choice(
                        t,
                        "node event",
                        &[
                            "fails",
                            "stops",
                            "returns",
                            "standby",
                            "unstandby",
                            "maintenance",
                            "ready",
                        ],
                    ))
                }
            });
        }
        for (kw, make) in [("cleanup", 0), ("clear", 1)] {
            if c.eat_word(kw) {
                let r = self.rsc_ref(c, "a resource")?;
                return Ok(if make == 0 {
                    Event::Cleanup(r.name)
                } else {
                    Event::Clear(r.name)
                });
            }
        }
        if c.eat_word("move") {
            let r = self.rsc_ref(c, "a resource")?;
            c.word("to")?;
            let node = self.node_ref(c.name("a node name")?)?;
            let lifetime = lifetime(c)?;
            let auto_clear = c.eat_word("auto-clear");
            return Ok(Event::Move {
                rsc: r.name,
                node,
                lifetime,
                auto_clear,
            });
        }
        if c.eat_word("ban") {
            let r = self.rsc_ref(c, "a resource")?;
            c.word("from")?;
            let node = self.node_ref(c.name("a node name")?)?;
            let lifetime = lifetime(c)?;
            return Ok(Event::Ban {
                rsc: r.name,
                node,
                lifetime,
            });
        }
        if c.stmt.tokens.get(2).is_some_and(|t| t.is_word("passes")) {
            let (d, _) = c.duration()?;
            c.word("passes")?;
            return Ok(Event::TimePasses(d));
        }
        let Some(t) = c.peek() else {
            return Err(c.expected("an event"));
        };
        let Some((_, op)) = t.text.rsplit_once('.') else {
            return Err(unknown_keyword(t, "as an event", EVENTS));
        };
        let Some(op) = OpAction::parse(op) else {
            return Err(Diagnostic::error(
                Code::BadAction,
                t.span.clone(),
                format!("`{op}` is not an operation"),
            )
            .label("expected start, stop, monitor, promote or demote")
            .help("write e.g. `when web.monitor fails on web1`"));
        };
        let r = self.rsc_ref(c, "a resource")?;
        c.word("fails")?;
        let node = self.nodes_after_on(c)?.remove(0);
        let rc = if c.eat_word("rc") {
            i32::try_from(c.integer("the exit code")?.0).unwrap_or(1)
        } else if op == OpAction::Monitor {
            7
        } else {
            1
        };
        Ok(Event::OpFails {
            rsc: r.name,
            op,
            node,
            rc,
        })
    }

    fn expectation(&mut self, c: &mut Cursor<'_>) -> Res<Expectation> {
        if c.eat_word("node") {
            let node = self.node_ref(c.name("a node name")?)?;
            if c.eat_word("not") {
                c.word("fenced")?;
                return Ok(Expectation::NotFenced(node));
            }
            c.word("fenced")?;
            return Ok(Expectation::Fenced(node));
        }
        let r = self.rsc_ref(c, "a resource or `node`")?;
        if c.eat_word("stopped") {
            return Ok(Expectation::Stopped(r.name));
        }
        if c.eat_word("blocked") {
            return Ok(Expectation::Blocked(r.name));
        }
        if c.eat_word("not") {
            c.word("on")?;
            let node = self.node_ref(c.name("a node name")?)?;
            return Ok(Expectation::NotOn { rsc: r.name, node });
        }
        let Some(role) = Self::role_word(c) else {
            return Err(with_suggestion(
                c,
                "`running on`, `promoted on`, `unpromoted on`, `stopped`, `blocked` or `not on`",
                &[
                    "running",
                    "promoted",
                    "unpromoted",
                    "stopped",
                    "blocked",
                    "not",
                ],
            ));
        };
        let promotable = self
            .policy
            .resource(r.id)
            .is_some_and(|x| x.is_promotable());
        if matches!(role, Role::Promoted | Role::Unpromoted) && !promotable {
            return Err(not_promotable(&r.name, &r.span));
        }
        let nodes = self.nodes_after_on(c)?;
        let role = (role != Role::Started).then_some(role);
        Ok(Expectation::Running {
            rsc: r.name,
            role,
            nodes,
        })
    }
}

fn not_promotable(name: &str, span: &crate::diag::Span) -> Diagnostic {
    Diagnostic::error(
        Code::NotPromotable,
        span.clone(),
        format!("`{name}` is not promotable: it has no promoted or unpromoted role"),
    )
    .label("no roles")
    .help(format!("say `{name} running on NODE`"))
}

/// "expected X" with a "did you mean" for a near miss.
fn with_suggestion(c: &Cursor<'_>, what: &str, words: &[&str]) -> Diagnostic {
    let d = c.expected(what);
    match c
        .peek_word()
        .and_then(|w| suggest(w, words.iter().copied()))
    {
        Some(help) => d.help(help),
        None => d,
    }
}

/// `for D` after a move or a ban: how long it lasts (above zero).
fn lifetime(c: &mut Cursor) -> Res<Option<halo_model::Duration>> {
    if !c.eat_word("for") {
        return Ok(None);
    }
    let (d, span) = c.duration()?;
    if d == halo_model::Duration::ZERO {
        return Err(
            Diagnostic::error(Code::BadValue, span, "a lifetime of 0 ends at once")
                .label("zero lifetime")
                .help("give how long it lasts, e.g. `for 10m`, or leave `for` out"),
        );
    }
    Ok(Some(d))
}
