//! Agent type declarations (`agent ocf:heartbeat:IPaddr2 { ... }`): the parameters an
//! agent takes, which are required, their types and defaults, and its default
//! operations. `check` validates resources against them.

use crate::diag::{Code, Diagnostic, Span};
use crate::lower::cursor::{suggest, unknown_keyword, Cursor, Res};
use crate::syntax::Stmt;
use halo_model::{Duration, OpAction, ParamValue};
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParamType {
    String,
    Integer,
    Boolean,
    Duration,
}

impl ParamType {
    fn parse(s: &str) -> Option<ParamType> {
        Some(match s {
            "string" => ParamType::String,
            "int" | "integer" => ParamType::Integer,
            "bool" | "boolean" => ParamType::Boolean,
            "duration" => ParamType::Duration,
            _ => return None,
        })
    }

    /// The kind of value, with its article, for help lines.
    fn described(&self) -> &'static str {
        match self {
            ParamType::String => "a string",
            ParamType::Integer => "an integer",
            ParamType::Boolean => "a boolean (true or false)",
            ParamType::Duration => "a duration (`30s`, `5m`)",
        }
    }

    /// Checks a value; returns what is wrong with it.
    pub fn check(&self, value: &str) -> Result<(), String> {
        match self {
            ParamType::String => Ok(()),
            ParamType::Integer => value
                .parse::<i64>()
                .map(|_| ())
                .map_err(|_| format!("`{value}` is not an integer")),
            ParamType::Boolean => match value {
                "true" | "false" | "yes" | "no" | "1" | "0" | "on" | "off" => Ok(()),
                _ => Err(format!("`{value}` is not a boolean (true/false)")),
            },
            ParamType::Duration => Duration::parse(value).map(|_| ()),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamSchema {
    pub name: String,
    pub ty: ParamType,
    pub required: bool,
    pub default: Option<String>,
    pub description: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpDefault {
    pub action: OpAction,
    pub interval: Duration,
    pub timeout: Duration,
}

/// What an agent takes and does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentSchema {
    /// `ocf:heartbeat:IPaddr2`, or `lsb:*` for a whole class.
    pub agent: String,
    pub description: Option<String>,
    pub params: Vec<ParamSchema>,
    pub ops: Vec<OpDefault>,
    pub promotable: bool,
    /// Accept parameters not declared (agents whose parameters vary).
    pub open: bool,
    pub span: Span,
}

impl AgentSchema {
    pub fn param(&self, name: &str) -> Option<&ParamSchema> {
        self.params.iter().find(|p| p.name == name)
    }

    pub fn default_op(&self, action: OpAction) -> Option<&OpDefault> {
        self.ops.iter().find(|o| o.action == action)
    }

    /// Checks the parameters a resource gives; `at` locates each one.
    pub fn check_params(
        &self,
        rsc: &str,
        params: &BTreeMap<String, ParamValue>,
        at: &dyn Fn(&str) -> Span,
        whole: &Span,
    ) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        for (name, value) in params {
            let Some(p) = self.param(name) else {
                // Fencer options (pcmk_delay_max, pcmk_reboot_timeout, ...) apply
                // to every fence agent.
                if self.open || (self.agent.starts_with("stonith:") && name.starts_with("pcmk_")) {
                    continue;
                }
                let help = suggest(name, self.params.iter().map(|p| p.name.as_str()))
                    .unwrap_or_else(|| {
                        if self.params.is_empty() {
                            format!("`{}` takes no parameters", self.agent)
                        } else {
                            let names: Vec<_> =
                                self.params.iter().map(|p| p.name.as_str()).collect();
                            format!("`{}` takes: {}", self.agent, names.join(", "))
                        }
                    });
                out.push(
                    Diagnostic::error(
                        Code::UnknownParameter,
                        at(name),
                        format!("`{}` has no parameter `{name}`", self.agent),
                    )
                    .label("unknown parameter")
                    .help(help),
                );
                continue;
            };
            if let ParamValue::Text(v) = value {
                if let Err(m) = p.ty.check(v) {
                    out.push(
                        Diagnostic::error(
                            Code::BadParameter,
                            at(name),
                            format!("parameter `{name}` of `{rsc}`: {m}"),
                        )
                        .label("wrong type")
                        .help(format!("`{name}` takes {}", p.ty.described())),
                    );
                }
            }
        }
        for p in self.params.iter().filter(|p| p.required) {
            if !params.contains_key(&p.name) {
                let mut d = Diagnostic::error(
                    Code::MissingParameter,
                    whole.clone(),
                    format!("`{rsc}` lacks the required parameter `{}`", p.name),
                )
                .label(format!("needs `{}`", p.name));
                d = d.help(match &p.description {
                    Some(desc) => format!("add `{} = ...` ({desc})", p.name),
                    None => format!("add `{} = ...`", p.name),
                });
                out.push(d);
            }
        }
        out
    }
}

const AGENT_STMTS: &[&str] = &[
    "description",
    "param",
    "start",
    "stop",
    "monitor",
    "promote",
    "demote",
    "promotable",
    "open",
];

/// Lowers an `agent CLASS:TYPE { ... }` statement.
pub(crate) fn lower_agent(stmt: &Stmt, diags: &mut Vec<Diagnostic>) -> Option<AgentSchema> {
    let mut c = Cursor::new(stmt);
    let head = (|| -> Res<String> {
        c.word("agent")?;
        let name = c
            .name("an agent such as `ocf:heartbeat:Dummy`")?
            .text
            .clone();
        c.end()?;
        Ok(name)
    })();
    let agent = match head {
        Ok(a) => a,
        Err(d) => {
            diags.push(d);
            return None;
        }
    };
    let mut schema = AgentSchema {
        agent,
        description: None,
        params: Vec::new(),
        ops: Vec::new(),
        promotable: false,
        open: false,
        span: stmt.span.clone(),
    };
    for s in stmt.block.iter().flat_map(|b| &b.stmts) {
        if let Err(d) = agent_stmt(s, &mut schema) {
            diags.push(d);
        }
    }
    Some(schema)
}

fn agent_stmt(s: &Stmt, schema: &mut AgentSchema) -> Res<()> {
    let mut c = Cursor::new(s);
    let Some(kw) = c.next() else {
        return Ok(());
    };
    match kw.text.as_str() {
        "description" => schema.description = Some(c.value("a description")?.text.clone()),
        "promotable" => schema.promotable = true,
        "open" => schema.open = true,
        "param" => {
            let name = c.name("a parameter name")?.text.clone();
            let mut p = ParamSchema {
                name,
                ty: ParamType::String,
                required: false,
                default: None,
                description: None,
            };
            while let Some(t) = c.next() {
                match t.text.as_str() {
                    "required" => p.required = true,
                    "default" => p.default = Some(c.value("a default value")?.text.clone()),
                    "description" => p.description = Some(c.value("a description")?.text.clone()),
                    other => {
                        p.ty = ParamType::parse(other).ok_or_else(|| {
                            unknown_keyword(
                                t,
                                "in a parameter declaration",
                                &[
                                    "string",
                                    "int",
                                    "bool",
                                    "duration",
                                    "required",
                                    "default",
                                    "description",
                                ],
                            )
                        })?
                    }
                }
            }
            schema.params.push(p);
        }
        other => {
            let Some(action) = OpAction::parse(other) else {
                return Err(unknown_keyword(kw, "in an agent declaration", AGENT_STMTS));
            };
            let mut op = OpDefault {
                action,
                interval: Duration::ZERO,
                timeout: Duration::from_secs(20),
            };
            while !c.at_end() {
                if c.eat_word("every") {
                    op.interval = c.duration()?.0;
                } else if c.eat_word("timeout") {
                    op.timeout = c.duration()?.0;
                } else {
                    return Err(c.expected("`every` or `timeout`"));
                }
            }
            schema.ops.push(op);
        }
    }
    c.end()?;
    c.no_block()
}
