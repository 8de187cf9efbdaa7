//! Location rules: `where rack == "a" and not defined maintenance-window`.
//!
//! A small precedence parser over the statement's tokens: `or` binds loosest, then
//! `and`, then `not`; parentheses group. Nesting is bounded by [`MAX_RULE_DEPTH`].

use super::cursor::{Cursor, Res};
use crate::diag::{Code, Diagnostic};
use halo_model::{CmpOp, Rule};

const MAX_RULE_DEPTH: usize = 16;

/// Parses a rule up to the end of the statement or a `score` keyword.
pub(super) fn rule(c: &mut Cursor<'_>) -> Res<Rule> {
    or(c, 0)
}

fn or(c: &mut Cursor<'_>, depth: usize) -> Res<Rule> {
    let mut parts = vec![and(c, depth)?];
    while c.eat_word("or") {
        parts.push(and(c, depth)?);
    }
    Ok(if parts.len() == 1 {
        parts.remove(0)
    } else {
        Rule::Or(parts)
    })
}

fn and(c: &mut Cursor<'_>, depth: usize) -> Res<Rule> {
    let mut parts = vec![unary(c, depth)?];
    while c.eat_word("and") {
        parts.push(unary(c, depth)?);
    }
    Ok(if parts.len() == 1 {
        parts.remove(0)
    } else {
        Rule::And(parts)
    })
}

fn unary(c: &mut Cursor<'_>, depth: usize) -> Res<Rule> {
    if depth > MAX_RULE_DEPTH {
        return Err(Diagnostic::error(
            Code::TooDeep,
            c.here(),
            format!("rule nests more than {MAX_RULE_DEPTH} levels deep"),
        )
        .label("too deep")
        .help("simplify the rule"));
    }
    if c.eat_word("not") {
        return Ok(Rule::Not(Box::new(unary(c, depth + 1)?)));
    }
    if c.eat_op("(") {
        let r = or(c, depth + 1)?;
        c.op(")")?;
        return Ok(r);
    }
    if c.eat_word("defined") {
        return Ok(Rule::Defined(c.name("an attribute name")?.text.clone()));
    }
    let attr = c
        .name("an attribute name, `not`, `defined` or `(`")?
        .text
        .clone();
    let op = match c.next() {
        Some(t) if t.is_op("==") => CmpOp::Eq,
        Some(t) if t.is_op("!=") => CmpOp::Ne,
        Some(t) if t.is_op("<") => CmpOp::Lt,
        Some(t) if t.is_op("<=") => CmpOp::Le,
        Some(t) if t.is_op(">") => CmpOp::Gt,
        Some(t) if t.is_op(">=") => CmpOp::Ge,
        Some(t) if t.is_op("=") => {
            return Err(
                Diagnostic::error(Code::Syntax, t.span.clone(), "`=` in a rule")
                    .label("assignment, not comparison")
                    .help("compare with `==`"),
            )
        }
        _ => return Err(c.expected("a comparison (`==`, `!=`, `<`, `<=`, `>`, `>=`)")),
    };
    let value = c.value("the value to compare with")?.text.clone();
    Ok(Rule::Compare { attr, op, value })
}
