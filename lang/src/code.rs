//! The registry of diagnostic codes: every code a diagnostic can carry, its
//! severity and a one-line summary. `docs/diagnostics.md` explains each with an
//! example, and `tests/diagnostics/` holds a sample that raises each; a test
//! keeps the three in step.

use std::fmt;

macro_rules! severity {
    (Either) => {
        None
    };
    ($s:ident) => {
        Some(crate::Severity::$s)
    };
}

macro_rules! codes {
    ($($variant:ident $name:literal $severity:ident $summary:literal;)*) => {
        /// A stable, documented diagnostic code, shown as `halo::NAME`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Code {
            $(#[doc = $summary] $variant,)*
        }

        impl Code {
            /// Every code, in the order of `docs/diagnostics.md`.
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// The code as shown to users, e.g. `halo::unknown-resource`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => concat!("halo::", $name),)*
                }
            }

            /// What the code means, in one line.
            pub fn summary(self) -> &'static str {
                match self {
                    $(Code::$variant => $summary,)*
                }
            }

            /// The severity every diagnostic with this code has, or `None` where
            /// it takes the severity of what it stands for.
            pub fn severity(self) -> Option<crate::Severity> {
                match self {
                    $(Code::$variant => severity!($severity),)*
                }
            }
        }
    };
}

codes! {
    Syntax "syntax" Error "The text is not a statement Halo knows: a misplaced word, a missing value, a stray character.";
    StatementTooLong "statement-too-long" Error "One statement holds more than 10,000 words.";
    BadEscape "bad-escape" Error "A quoted string uses an escape other than the four Halo knows.";
    ControlInString "control-in-string" Error "A quoted string holds a control character (such as NUL), which no agent can receive.";
    UnterminatedString "unterminated-string" Error "A quoted string has no closing quote.";
    TooDeep "too-deep" Error "Braces or parentheses nest more deeply than Halo reads.";
    UnbalancedBrace "unbalanced-brace" Error "A `{` has no matching `}`, or a `}` no matching `{`.";
    TooManyDiagnostics "too-many-diagnostics" Either "So many problems were found that the rest are counted, not shown; an error if any of those is one.";
    NoCluster "no-cluster" Error "The policy has no `cluster` block.";
    NoNodes "no-nodes" Error "The cluster declares no nodes.";
    Duplicate "duplicate" Error "A name (node, resource, parameter, operation, test) is declared twice.";
    DuplicateSetting "duplicate-setting" Error "A setting that holds one value is given twice in the same block.";
    BadValue "bad-value" Error "A value is out of range or empty where something is required.";
    BadNumber "bad-number" Error "A whole number was expected.";
    BadDuration "bad-duration" Error "A duration was expected (`500ms`, `30s`, `5m`, `2h`).";
    BadScore "bad-score" Error "A score was expected: an integer, `inf` or `-inf`.";
    BadName "bad-name" Error "A resource name holds a character reserved for roles and actions.";
    BadMember "bad-member" Error "A group member is not a plain resource.";
    BadRole "bad-role" Error "A role was expected after `.`, but an action was given.";
    BadAction "bad-action" Error "An action was expected after `.` in an ordering, but a role or a monitor was given.";
    BadAgent "bad-agent" Error "An agent reference is not of the form `class:provider:type` or `class:type`.";
    BadParameter "bad-parameter" Error "A parameter's value does not fit the type its agent declares.";
    UnknownKeyword "unknown-keyword" Error "A statement's first word is not one Halo knows in that place.";
    UnknownNode "unknown-node" Error "A node is named that the cluster does not declare.";
    UnknownResource "unknown-resource" Error "A resource is named that the policy does not declare.";
    UnknownAgent "unknown-agent" Warning "A resource uses an agent that no `agent` declaration describes, so its parameters are not checked.";
    UnknownParameter "unknown-parameter" Error "A resource sets a parameter its agent does not declare.";
    MissingParameter "missing-parameter" Error "A resource lacks a parameter its agent requires.";
    TooMany "too-many" Error "The policy has more nodes, resources or resource instances than Halo plans for.";
    UnexpectedBlock "unexpected-block" Error "A statement that takes no block is given one.";
    EmptyGroup "empty-group" Error "A group has no members.";
    MonitorInterval "monitor-interval" Error "A monitor has no interval.";
    RoleOnNonPromotable "role-on-non-promotable" Error "A role (`promoted`, `unpromoted`) is used on a resource that has no roles.";
    NotPromotable "not-promotable" Error "A role or promotion is asked of something that has no roles: a `promotable` clone of an agent that cannot promote, or a role on a plain resource.";
    PromotableAgent "promotable-agent" Warning "A plain `clone` or resource uses an agent that supports roles.";
    SelfColocation "self-colocation" Error "A resource is colocated with itself.";
    SelfOrder "self-order" Error "A resource is ordered after itself.";
    OrderCycle "order-cycle" Error "Ordering constraints form a cycle, so nothing in it could ever start.";
    UnknownAttribute "unknown-attribute" Warning "A colocation goes by a node attribute that no node declares, so every node counts as one place.";
    WithinGroup "within-group" Error "A constraint between two members of the same group repeats or contradicts the group's own order.";
    EmptyTest "empty-test" Error "A test expects nothing, so it cannot fail.";
    LateGiven "late-given" Error "A test's `given` comes after its `when` or `expect`.";
    FencingWithoutDevice "fencing-without-device" Error "Fencing is on but no fence device is declared.";
    NodeNotFenceable "node-not-fenceable" Warning "Fencing is on but no device can fence a node.";
    NotFenceDevice "not-fence-device" Error "A fence order names a resource that is not a fence device.";
    FencingUnused "fencing-unused" Warning "A fencing setting cannot take effect: fencing is off, or a fence order's device cannot fence its node.";
    TwoNodesUnfenced "two-nodes-unfenced" Warning "Two nodes, no fencing, and neither two-node quorum nor a witness: a split brain runs everything twice.";
    NoMonitor "no-monitor" Warning "A resource has no monitor, so its failures go unnoticed.";
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
