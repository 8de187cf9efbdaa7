//! Pacemaker compatibility: reads a CIB (the XML of `cibadmin -Q`: configuration
//! and status) and turns it into Halo's policy IR and observed state, listing by
//! name whatever Halo cannot express yet.
//!
//! Like the language and the engine, this crate is pure: it takes XML text and
//! returns data. It does no I/O and reads no clock.

mod config;
mod status;
mod xml;

pub use xml::Piece;
/// The element tree quick-xml reads a whole CIB into (see [`import_whole`]).
pub use xml::{parse as parse_xml, Element};

use halo_model::{ClusterState, Policy};
use std::collections::BTreeMap;

/// A CIB, imported.
#[derive(Debug)]
pub struct Imported {
    pub policy: Policy,
    pub state: ClusterState,
    /// Halo resource name → the id Pacemaker prints for its instances (a clone's
    /// primitive, for example).
    pub display: BTreeMap<String, String>,
    /// What the CIB says that Halo cannot express yet, by name
    /// (`bundle 'httpd-bundle'`). Empty when the import is faithful.
    pub unsupported: Vec<String>,
    /// What the CIB says that Halo leaves out without it changing any
    /// decision (an `op notify` Halo does not run, a constraint on a
    /// resource that does not exist, which Pacemaker ignores too): shown as
    /// notes, never dropped without a word.
    pub notes: Vec<String>,
    /// `origins[o]` is the CIB id behind policy origin `o`.
    pub origins: Vec<String>,
    /// The CIB's `execution-date`: the time its status was recorded for.
    pub execution_date: Option<i64>,
}

/// Imports a CIB. Fails only when the XML is malformed or is not a CIB.
/// Failed operations older than their resource's failure-timeout are read as
/// of the CIB's `execution-date`; use [`import_at`] to give the time.
pub fn import(xml: &str) -> Result<Imported, String> {
    import_at(xml, None, None)
}

/// Imports a CIB as of `now` (seconds since the epoch); failing that, as of
/// its `execution-date`; failing that, as of `clock`.
pub fn import_at(xml: &str, now: Option<i64>, clock: Option<i64>) -> Result<Imported, String> {
    // Read in parts when the CIB allows it; otherwise whole. When something
    // is wrong with it, whole too: that names what is wrong best, and both
    // readers refuse the same documents.
    match import_from(xml.as_bytes(), now, clock) {
        Ok(Some(imported)) => Ok(imported),
        Ok(None) => import_whole(xml, now, clock),
        Err(streamed) => {
            let whole = import_whole(xml, now, clock);
            debug_assert!(
                whole.is_err(),
                "the streamed reader refused a CIB the whole reader takes: {streamed}"
            );
            whole
        }
    }
}

/// Imports a CIB read from `source` piece by piece (see [`Parts`]).
///
/// `None` when the CIB cannot be read that way, for [`import_at`] to read
/// whole. Errors are terse: reading whole names what is wrong best.
pub fn import_from<R: std::io::BufRead>(
    source: R,
    now: Option<i64>,
    clock: Option<i64>,
) -> Result<Option<Imported>, String> {
    import_parts(Parts::new(source), now, clock, drop)
}

/// A CIB's parts, as [`Parts`] reads them.
#[derive(Debug)]
pub enum Part {
    /// The `<cib>` tag (its attributes) and the configuration section.
    Configuration { root: Piece, configuration: Piece },
    /// A `node_state` tag in the status section: which node, its membership.
    Node(Piece),
    /// That node's transient attributes.
    Attributes(Piece),
    /// Some of that node's `lrm_resource`s (operation histories), in order.
    Histories(Piece),
    /// The end of that node's `node_state`.
    NodeEnd,
    /// The CIB must be read whole: its status comes before its
    /// configuration (or it has none), or one part of it depends on another
    /// (`id-ref`s, and live migrations, which are recorded on the target node
    /// and read for the source).
    Whole,
}

impl Part {
    /// The piece of a part the importer reads elements from, if any: the
    /// reader can find their attributes in advance
    /// ([`Piece::find_attributes`]).
    pub fn piece_mut(&mut self) -> Option<&mut Piece> {
        match self {
            Part::Attributes(p) | Part::Histories(p) => Some(p),
            _ => None,
        }
    }
}

/// How many bytes of `lrm_resource`s a part holds at most (plus one
/// resource): small enough to stay in the processor's cache between reader
/// and importer, large enough that handing parts over costs little.
const HISTORIES: usize = 1 << 15;

/// What [`Parts`] reads as pieces, and how; the constants below are their
/// indexes.
const RULES: &[xml::Rule<'static>] = {
    use xml::Take::{Batch, Enter, Whole};
    &[
        (&["cib"], Enter),
        (&["cib", "configuration"], Whole),
        (&["cib", "status", "node_state"], Enter),
        (
            &["cib", "status", "node_state", "transient_attributes"],
            Whole,
        ),
        (
            &[
                "cib",
                "status",
                "node_state",
                "lrm",
                "lrm_resources",
                "lrm_resource",
            ],
            Batch(HISTORIES),
        ),
    ]
};
const ROOT: usize = 0;
const CONFIGURATION: usize = 1;
const NODE: usize = 2;
const ATTRIBUTES: usize = 3;
const HISTORY: usize = 4;

/// A CIB read in parts: the configuration, then each node's state in parts
/// of about the same size however many resources a node has, everything
/// else passed over. Each part is its own text, so that a reader can hand
/// parts to an importer (on another thread, say) and a large status is
/// never held whole.
pub struct Parts<R> {
    stream: xml::Stream<R>,
    root: Option<Piece>,
    configured: bool,
    done: bool,
}

impl<R: std::io::BufRead> Parts<R> {
    pub fn new(source: R) -> Parts<R> {
        Parts {
            stream: xml::Stream::new(source, RULES),
            root: None,
            configured: false,
            done: false,
        }
    }

    /// The source, as far as it has been read.
    pub fn into_inner(self) -> R {
        self.stream.into_inner()
    }

    /// Gives back a part's piece once imported (see [`import_parts`]), for
    /// the next parts to be read into.
    pub fn recycle(&mut self, piece: Piece) {
        self.stream.recycle(piece);
    }

    fn read(&mut self) -> Result<Option<Part>, String> {
        loop {
            let rule = match self.stream.next()? {
                // A CIB with no configuration is read whole, which says so.
                xml::Read::End => return Ok((!self.configured).then_some(Part::Whole)),
                xml::Read::Closed(NODE) => return Ok(Some(Part::NodeEnd)),
                xml::Read::Closed(_) => continue,
                xml::Read::Piece(rule) => rule,
            };
            let piece = self.stream.take();
            match rule {
                ROOT => self.root = Some(piece),
                // Only the first configuration counts.
                CONFIGURATION if self.configured => self.recycle(piece),
                CONFIGURATION => {
                    self.configured = true;
                    // A status before the configuration was passed over unread.
                    let root = self.root.take();
                    return Ok(Some(match root {
                        Some(root)
                            if !self.stream.passed("status") && !piece.contains(b"id-ref") =>
                        {
                            Part::Configuration {
                                root,
                                configuration: piece,
                            }
                        }
                        _ => Part::Whole,
                    }));
                }
                _ if !self.configured => return Ok(Some(Part::Whole)),
                _ if piece.contains(b"id-ref") => return Ok(Some(Part::Whole)),
                NODE => return Ok(Some(Part::Node(piece))),
                ATTRIBUTES => return Ok(Some(Part::Attributes(piece))),
                HISTORY if piece.contains(b"migrate_from") => return Ok(Some(Part::Whole)),
                _ => return Ok(Some(Part::Histories(piece))),
            }
        }
    }
}

impl<R: std::io::BufRead> Iterator for Parts<R> {
    type Item = Result<Part, String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let part = self.read().transpose();
        self.done = matches!(part, None | Some(Err(_)) | Some(Ok(Part::Whole)));
        part
    }
}

/// Imports a CIB from its parts, in the order [`Parts`] reads them: each
/// part is folded into the cluster state and its text dropped, so memory
/// stays near the size of the configuration and the state, not of the
/// document.
///
/// Each part's piece is handed to `done` once imported, for the reader to
/// recycle ([`Parts::recycle`]) or to drop.
///
/// `None` when the CIB must be read whole ([`Part::Whole`]), for
/// [`import_at`] to do so.
pub fn import_parts(
    parts: impl IntoIterator<Item = Result<Part, String>>,
    now: Option<i64>,
    clock: Option<i64>,
    mut done: impl FnMut(Piece),
) -> Result<Option<Imported>, String> {
    let mut parts = parts.into_iter();
    let Some(Part::Configuration {
        mut root,
        mut configuration,
    }) = parts.next().transpose()?
    else {
        return Ok(None);
    };
    let top = Top::of(&root.element()?)?;
    let cfg = configuration.element()?;
    let (mut b, mut state) = begin(&cfg, config::Refs::default(), &top, now, clock);
    let mut seen = Vec::new();
    // The node being read, and its histories read before its attributes:
    // they wait for them, as fail counts decide which failures are
    // remembered.
    let mut node = None;
    let mut waiting: Vec<Piece> = Vec::new();
    for part in parts {
        match part? {
            Part::Node(mut tag) => {
                node = b.open_node(&tag.element()?, &mut state);
                done(tag);
            }
            Part::Attributes(mut piece) => {
                if let Some(n) = &mut node {
                    b.node_attributes(n, &piece.element()?, &mut state);
                }
                done(piece);
                for piece in waiting.drain(..) {
                    if let Some(n) = &mut node {
                        fold_histories(&mut b, n, piece, &mut state, &mut done)?;
                    }
                }
            }
            Part::Histories(piece) => match &mut node {
                Some(n) if !n.histories_ready() => waiting.push(piece),
                Some(n) => fold_histories(&mut b, n, piece, &mut state, &mut done)?,
                None => done(piece),
            },
            Part::NodeEnd => {
                let Some(mut n) = node.take() else { continue };
                for piece in waiting.drain(..) {
                    fold_histories(&mut b, &mut n, piece, &mut state, &mut done)?;
                }
                seen.push(b.close_node(n, &mut state));
            }
            Part::Configuration { .. } | Part::Whole => return Ok(None),
        }
    }
    b.unseen_nodes(&seen, &mut state);
    Ok(Some(finish(b, state, &top)))
}

/// Folds a part of a node's resource histories into the state, then hands
/// its piece to `done`.
fn fold_histories(
    b: &mut config::Builder<'_>,
    n: &mut status::NodeFold,
    mut piece: Piece,
    state: &mut ClusterState,
    done: &mut impl FnMut(Piece),
) -> Result<(), String> {
    let (all, tops) = piece.shallow()?;
    // Each lrm_resource with its children, which follow it up to the next.
    let histories = tops.iter().enumerate().filter_map(|(i, &top)| {
        let end = tops.get(i + 1).copied().unwrap_or(all.len());
        Some((all.get(top)?, all.get(top + 1..end)?))
    });
    b.node_histories(n, histories, state);
    drop(all);
    done(piece);
    Ok(())
}

/// What the `<cib>` element itself says.
struct Top {
    execution_date: Option<i64>,
    /// Fail counts are per resource, not per operation: the CIB was
    /// written by a controller older than feature set 3.0.13 (Pacemaker
    /// 1.1.17), or says no feature set at all (`generate_fail_regexes`).
    legacy_fail_counts: bool,
    quorate: Option<bool>,
    dc: Option<String>,
}

impl Top {
    fn of(root: &xml::Element) -> Result<Top, String> {
        if root.name != "cib" {
            return Err(format!("the root element is <{}>, not <cib>", root.name));
        }
        Ok(Top {
            execution_date: root.attr("execution-date").and_then(|v| v.parse().ok()),
            legacy_fail_counts: root
                .attr("crm_feature_set")
                .is_none_or(|v| version_below(v, &[3, 0, 13])),
            // Membership decides quorum in Pacemaker; the CIB records the verdict.
            quorate: root.attr("have-quorum").map(|v| v == "1" || v == "true"),
            dc: root.attr("dc-uuid").map(str::to_string),
        })
    }
}

/// Whether a dotted version is below `than`, compared number by number
/// (Pacemaker's `compare_version`; a missing number counts as 0).
fn version_below(v: &str, than: &[u64]) -> bool {
    let parts: Vec<u64> = v
        .split('.')
        .map(|p| p.trim().parse().unwrap_or(0))
        .collect();
    for (i, t) in than.iter().enumerate() {
        let p = parts.get(i).copied().unwrap_or(0);
        if p != *t {
            return p < *t;
        }
    }
    false
}

/// The configuration read, and the state it implies before the status.
fn begin<'a>(
    cfg: &'a xml::Element<'a>,
    refs: config::Refs<'a>,
    top: &Top,
    now: Option<i64>,
    clock: Option<i64>,
) -> (config::Builder<'a>, ClusterState) {
    let mut b = config::Builder {
        now: now.or(top.execution_date).or(clock),
        legacy_fail_counts: top.legacy_fail_counts,
        refs,
        templates: cfg
            .first("resources")
            .into_iter()
            .flat_map(|r| r.all("template"))
            .map(|t| (t.id(), t))
            .collect(),
        ..config::Builder::default()
    };
    b.configuration(cfg);
    b.ids = config::Ids::of(&b.names);
    b.facts = status::Facts::of(&b.policy);
    let mut state = ClusterState::default();
    for n in &b.standby {
        state.node_mut(n).standby = true;
    }
    for n in &b.maintenance {
        state.node_mut(n).maintenance = true;
    }
    state.quorate = top.quorate;
    (b, state)
}

/// Imports a CIB read whole into one element tree with quick-xml: the path for
/// CIBs that cannot be read in parts, and the baseline `pcmk/benches/import.rs`
/// measures the streamed reader against.
pub fn import_whole(xml: &str, now: Option<i64>, clock: Option<i64>) -> Result<Imported, String> {
    let root = xml::parse(xml)?;
    let top = Top::of(&root)?;
    let cfg = root
        .first("configuration")
        .ok_or("the CIB has no <configuration> section")?;
    let (mut b, mut state) = begin(cfg, config::Refs::of(&root, xml), &top, now, clock);
    // Without a status section every node is one the cluster has never seen.
    let empty = xml::Element::default();
    b.status(root.first("status").unwrap_or(&empty), &mut state);
    Ok(finish(b, state, &top))
}

fn finish(mut b: config::Builder<'_>, mut state: ClusterState, top: &Top) -> Imported {
    // Built-in node attributes that rules use, as of this CIB.
    let dc = top.dc.as_deref();
    for n in &mut b.policy.cluster.nodes {
        let id = b
            .node_ids
            .get(&n.name)
            .map_or(n.name.as_str(), String::as_str);
        for &a in &b.builtin_attrs {
            let v = match a {
                config::IS_DC => if dc == Some(id) { "true" } else { "false" }.to_string(),
                config::NODE_ID => id.to_string(),
                _ => "cluster".to_string(),
            };
            n.attrs.insert(a.to_string(), v);
        }
    }
    if let Some((what, n, max)) = b.policy.exceeded_bound() {
        b.unsupported
            .push(format!("{n} {what}, more than the {max} Halo plans for"));
    }
    b.unsupported.sort();
    b.unsupported.dedup();
    b.notes.sort();
    b.notes.dedup();
    // As a compiled policy has them, so both give identical plans and output.
    b.policy.cluster.nodes.sort_by(|x, y| x.name.cmp(&y.name));
    state.normalize();
    Imported {
        policy: b.policy,
        state,
        display: b.display,
        unsupported: b.unsupported,
        notes: b.notes,
        origins: b.origins,
        execution_date: top.execution_date,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use halo_model::{FailCount, NodeStatus, Role, Score};

    const CIB: &str = r#"<cib have-quorum="1" crm_feature_set="3.16.2" execution-date="1700000000">
  <configuration>
    <crm_config><cluster_property_set id="o">
      <nvpair id="o1" name="stonith-enabled" value="false"/>
      <nvpair id="o2" name="no-quorum-policy" value="ignore"/>
    </cluster_property_set></crm_config>
    <nodes>
      <node id="1" uname="n1"/>
      <node id="2" uname="n2"><instance_attributes id="a"><nvpair id="a1" name="standby" value="on"/><nvpair id="a2" name="rack" value="b"/></instance_attributes></node>
    </nodes>
    <resources>
      <primitive id="ip" class="ocf" provider="heartbeat" type="IPaddr2">
        <instance_attributes id="ip-i"><nvpair id="ip-i1" name="ip" value="10.0.0.1"/></instance_attributes>
        <operations><op id="ip-m" name="monitor" interval="10s" on-fail="block"/></operations>
        <meta_attributes id="ip-m"><nvpair id="ip-m1" name="resource-stickiness" value="100"/></meta_attributes>
      </primitive>
      <master id="db-clone"><primitive id="db" class="ocf" provider="pacemaker" type="Stateful"/></master>
      <bundle id="httpd-bundle"/>
    </resources>
    <constraints>
      <rsc_location id="l1" rsc="ip" node="n1" score="INFINITY"/>
      <rsc_colocation id="c1" rsc="ip" with-rsc="db-clone" with-rsc-role="Master" score="INFINITY"/>
      <rsc_order id="o1" first="db-clone" first-action="promote" then="ip" then-action="start"/>
    </constraints>
  </configuration>
  <status>
    <node_state id="1" uname="n1" in_ccm="true" crmd="online" join="member" expected="member">
      <transient_attributes id="1"><instance_attributes id="s1">
        <nvpair id="s1a" name="master-db" value="10"/>
        <nvpair id="s1b" name="fail-count-ip#monitor_10000" value="2"/>
        <nvpair id="s1c" name="last-failure-ip#monitor_10000" value="1699999999"/>
      </instance_attributes></transient_attributes>
      <lrm id="1"><lrm_resources>
        <lrm_resource id="ip" class="ocf" provider="heartbeat" type="IPaddr2">
          <lrm_rsc_op id="ip_last_0" operation="start" call-id="3" rc-code="0" op-status="0" interval="0"/>
          <lrm_rsc_op id="ip_monitor_10000" operation="monitor" call-id="4" rc-code="7" op-status="0" interval="10000"/>
        </lrm_resource>
        <lrm_resource id="db:0" class="ocf" provider="pacemaker" type="Stateful">
          <lrm_rsc_op id="db_last_0" operation="promote" call-id="5" rc-code="0" op-status="0" interval="0"/>
        </lrm_resource>
        <lrm_resource id="gone" class="ocf" provider="heartbeat" type="Dummy">
          <lrm_rsc_op id="gone_last_0" operation="start" call-id="6" rc-code="0" op-status="0" interval="0"/>
        </lrm_resource>
      </lrm_resources></lrm>
    </node_state>
    <node_state id="2" uname="n2" in_ccm="false" crmd="offline" join="down" expected="down"/>
  </status>
</cib>"#;

    #[test]
    fn imports_configuration_and_status() {
        let i = import(CIB).unwrap();
        assert_eq!(i.unsupported, vec!["bundle 'httpd-bundle'".to_string()]);
        assert_eq!(i.execution_date, Some(1_700_000_000));
        assert!(!i.policy.cluster.fencing);
        let db = i
            .policy
            .find("db-clone")
            .and_then(|id| i.policy.resource(id))
            .unwrap();
        assert!(db.is_promotable());
        assert_eq!(i.display.get("db-clone").map(String::as_str), Some("db"));
        assert_eq!(i.policy.constraints.len(), 3);
        assert_eq!(i.state.quorate, Some(true));
        assert_eq!(i.state.node("n2").status, NodeStatus::Offline);
        assert!(i.state.node("n2").standby);
        let ip = i.state.on("ip", "n1").unwrap();
        assert_eq!(ip.role, Role::Started);
        assert_eq!(ip.failed.as_ref().map(|f| f.rc), Some(7));
        assert_eq!(i.state.failcount("ip", "n1").map(|f| f.count), Some(2));
        let db = i.state.on("db-clone", "n1").unwrap();
        assert_eq!((db.role, db.promotion), (Role::Promoted, Some(10)));
        assert_eq!(
            i.state.on("gone", "n1").map(|r| r.role),
            Some(Role::Started)
        );
    }

    /// op_defaults sets go by score, then document order, and the first to
    /// give a timeout wins; an operation's own timeout wins over them all;
    /// a rule that picks starts writes the start (`unpack_operation`).
    /// A CIB's feature set says how fail counts are named: per resource
    /// before 3.0.13 (and when it says none), per operation since; a name
    /// of the other form counts for nothing, as in Pacemaker.
    #[test]
    fn fail_counts_are_named_as_the_feature_set_says() {
        let cib = |set: &str| {
            format!(
                r#"<cib have-quorum="1" {set} execution-date="1000"><configuration><crm_config/>
  <nodes><node id="1" uname="n1"/></nodes>
  <resources><primitive id="a" class="ocf" provider="pacemaker" type="Dummy"/><primitive id="b" class="ocf" provider="pacemaker" type="Dummy"/></resources>
  </configuration><status><node_state id="1" uname="n1" in_ccm="true" crmd="online" join="member" expected="member">
  <transient_attributes id="1"><instance_attributes id="s1">
    <nvpair id="s1" name="fail-count-a" value="3"/>
    <nvpair id="s2" name="fail-count-b#start_0" value="INFINITY"/>
    <nvpair id="s3" name="fail-count-b#bogus" value="7"/>
  </instance_attributes></transient_attributes></node_state></status></cib>"#
            )
        };
        let counts = |set: &str| {
            let i = import(&cib(set)).unwrap();
            ["a", "b"].map(|r| i.state.failcount(r, "n1").map_or(0, |f| f.count))
        };
        assert_eq!(counts(""), [3, 0]);
        assert_eq!(counts(r#"crm_feature_set="3.0.12""#), [3, 0]);
        assert_eq!(
            counts(r#"crm_feature_set="3.0.13""#),
            [0, FailCount::INFINITE]
        );
        assert_eq!(
            counts(r#"crm_feature_set="3.16.2""#),
            [0, FailCount::INFINITE]
        );
    }

    #[test]
    fn op_defaults_rules_give_timeouts_in_pacemakers_order() {
        let xml = r#"<cib><configuration><crm_config/><nodes><node id="1" uname="n1"/></nodes>
<resources>
 <primitive id="ip" class="ocf" provider="heartbeat" type="IPaddr2"><operations>
  <op id="ip-m10" name="monitor" interval="10s"/><op id="ip-m20" name="monitor" interval="20s"/>
  <op id="ip-m30" name="monitor" interval="30s" timeout="3s"/></operations></primitive>
 <primitive id="d" class="ocf" provider="pacemaker" type="Dummy"><operations>
  <op id="d-m10" name="monitor" interval="10s"/></operations></primitive>
</resources><constraints/>
<op_defaults>
 <meta_attributes id="mon10"><rule id="r1" score="INFINITY">
  <op_expression id="e1" name="monitor" interval="10s"/></rule>
  <nvpair id="t1" name="timeout" value="8s"/></meta_attributes>
 <meta_attributes id="plain"><nvpair id="t0" name="timeout" value="5s"/></meta_attributes>
 <meta_attributes id="late"><rule id="r2" score="INFINITY">
  <op_expression id="e2" name="monitor"/></rule>
  <nvpair id="t2" name="timeout" value="7s"/></meta_attributes>
 <meta_attributes id="ip-starts" score="10"><rule id="r3" score="INFINITY">
  <rsc_expression id="e3" class="ocf" provider="heartbeat" type="IPaddr2"/>
  <op_expression id="e4" name="start"/></rule>
  <nvpair id="t3" name="timeout" value="9s"/></meta_attributes>
</op_defaults></configuration><status/></cib>"#;
        let i = import(xml).unwrap();
        assert!(i.unsupported.is_empty(), "{:?}", i.unsupported);
        assert_eq!(i.policy.op_timeout.map(|d| d.as_ms()), Some(5_000));
        let timeouts = |name: &str| -> Vec<(halo_model::OpAction, u64, Option<u64>)> {
            let r = i
                .policy
                .find(name)
                .and_then(|id| i.policy.resource(id))
                .unwrap();
            r.primitive()
                .unwrap()
                .ops
                .iter()
                .map(|o| (o.action, o.interval.as_ms(), o.timeout.map(|t| t.as_ms())))
                .collect()
        };
        // 10 s monitors: the first set (8 s). 20 s: the plain set comes before
        // `late`, so the default (5 s) stands. 30 s: its own. The IPaddr2
        // start: the highest-scored set, written as an operation.
        assert_eq!(
            timeouts("ip"),
            vec![
                (halo_model::OpAction::Monitor, 10_000, Some(8_000)),
                (halo_model::OpAction::Monitor, 20_000, None),
                (halo_model::OpAction::Monitor, 30_000, Some(3_000)),
                (halo_model::OpAction::Start, 0, Some(9_000)),
            ]
        );
        assert_eq!(
            timeouts("d"),
            vec![(halo_model::OpAction::Monitor, 10_000, Some(8_000))]
        );
    }

    #[test]
    fn streaming_and_whole_imports_agree() {
        let ops = r#"<lrm_rsc_op id="a" operation="start" call-id="1" rc-code="0" op-status="0" interval="0" transition-key="1:1:0:x"/>"#;
        for xml in [CIB.to_string(), history_xml("", ops)] {
            let streamed = import_from(xml.as_bytes(), None, None).unwrap().unwrap();
            let whole = import_whole(&xml, None, None).unwrap();
            assert_eq!(format!("{streamed:?}"), format!("{whole:?}"));
        }
        // Configuration after status: not streamed, still imported.
        let late = "<cib><status/><configuration><nodes/></configuration></cib>";
        assert!(import_from(late.as_bytes(), None, None).unwrap().is_none());
        assert!(import(late).is_ok());
    }

    /// A node with many resources, each with a failure at 900 that a
    /// failure-timeout of 60 s forgets by 1000 unless the resource's fail
    /// count says it failed again since; transient attributes `first` or
    /// after the histories.
    fn many_failures_xml(first: bool) -> String {
        let n = 300;
        let primitives: String = (0..n)
            .map(|i| format!(r#"<primitive id="r{i}" class="ocf" provider="pacemaker" type="Dummy"><meta_attributes id="m{i}"><nvpair id="m{i}-t" name="failure-timeout" value="60"/></meta_attributes><operations><op id="r{i}-m" name="monitor" interval="10s"/></operations></primitive>"#))
            .collect();
        let histories: String = (0..n)
            .map(|i| format!(r#"<lrm_resource id="r{i}" class="ocf" provider="pacemaker" type="Dummy"><lrm_rsc_op id="r{i}-a" operation="start" call-id="1" rc-code="0" op-status="0" interval="0" transition-key="1:1:0:x" last-rc-change="100"/><lrm_rsc_op id="r{i}-b" operation="monitor" call-id="2" rc-code="1" op-status="0" interval="10000" transition-key="2:1:0:x" last-rc-change="900"/></lrm_resource>"#))
            .collect();
        let lrm = format!(r#"<lrm id="1"><lrm_resources>{histories}</lrm_resources></lrm>"#);
        let attributes = r#"<transient_attributes id="1"><instance_attributes id="s1"><nvpair id="s1-f" name="fail-count-r250#monitor_10000" value="2"/><nvpair id="s1-l" name="last-failure-r250#monitor_10000" value="990"/></instance_attributes></transient_attributes>"#;
        let (a, b) = if first {
            (attributes, lrm.as_str())
        } else {
            (lrm.as_str(), attributes)
        };
        format!(
            r#"<cib have-quorum="1" crm_feature_set="3.16.2" execution-date="1000"><configuration>
    <crm_config><cluster_property_set id="o"><nvpair id="o1" name="stonith-enabled" value="false"/></cluster_property_set></crm_config>
    <nodes><node id="1" uname="n1"/></nodes><resources>{primitives}</resources></configuration>
  <status><node_state id="1" uname="n1" in_ccm="true" crmd="online" join="member" expected="member">{a}{b}</node_state></status></cib>"#
        )
    }

    #[test]
    fn histories_are_read_after_attributes_wherever_they_are() {
        for first in [true, false] {
            let xml = many_failures_xml(first);
            let streamed = import_from(xml.as_bytes(), None, None).unwrap().unwrap();
            let whole = import_whole(&xml, None, None).unwrap();
            assert_eq!(format!("{streamed:?}"), format!("{whole:?}"));
            // Only the resource whose fail count is recent still has its
            // failure, however the node's state is ordered.
            let failed: Vec<&String> = streamed
                .state
                .resources
                .iter()
                .filter(|(_, on)| on.get("n1").is_some_and(|x| x.failed.is_some()))
                .map(|(r, _)| r)
                .collect();
            assert_eq!(failed, ["r250"], "attributes first: {first}");
        }
    }

    /// A one-node CIB with `resources` and `constraints`, and `props`.
    fn cib_with(props: &str, nodes: &str, resources: &str, constraints: &str) -> Imported {
        import(&format!(
            r#"<cib have-quorum="1"><configuration><crm_config><cluster_property_set id="o">{props}</cluster_property_set></crm_config>
  <nodes><node id="1" uname="n1"/>{nodes}</nodes><resources>{resources}</resources>
  <constraints>{constraints}</constraints></configuration><status/></cib>"#
        ))
        .unwrap()
    }

    fn dummy(id: &str, ops: &str) -> String {
        format!(
            r#"<primitive id="{id}" class="ocf" provider="heartbeat" type="Dummy"><operations>{ops}</operations></primitive>"#
        )
    }

    fn has(list: &[String], what: &str) -> bool {
        list.iter().any(|u| u.contains(what))
    }

    #[test]
    fn an_alerts_select_is_carried_and_attribute_alerts_are_reported() {
        let cib = |select: &str| {
            import(&format!(
                r#"<cib><configuration><crm_config/><nodes><node id="1" uname="n1"/></nodes>
  <resources/><constraints/><alerts><alert id="a" path="/bin/true">{select}
  <recipient id="r" value="/tmp/x"/></alert></alerts></configuration><status/></cib>"#
            ))
            .unwrap()
        };
        use halo_model::AlertKind;
        let i = cib("<select><select_fencing/><select_nodes/></select>");
        assert!(i.unsupported.is_empty(), "{:?}", i.unsupported);
        assert_eq!(
            i.policy.cluster.alerts[0].select,
            Some(vec![AlertKind::Nodes, AlertKind::Fencing])
        );
        // No select, or one that lists nothing: every kind.
        assert_eq!(cib("").policy.cluster.alerts[0].select, None);
        assert_eq!(cib("<select/>").policy.cluster.alerts[0].select, None);
        let i = cib("<select><select_attributes/></select>");
        assert!(
            has(&i.unsupported, "selects attribute changes"),
            "{:?}",
            i.unsupported
        );
    }

    #[test]
    fn what_cannot_be_read_is_named_never_dropped_or_guessed() {
        // A score with two signs is no score (not -INFINITY).
        let i = cib_with(
            "",
            "",
            &dummy("r", ""),
            r#"<rsc_location id="l" rsc="r" node="n1" score="+-INFINITY"/>"#,
        );
        assert!(
            has(&i.unsupported, "score '+-INFINITY'"),
            "{:?}",
            i.unsupported
        );
        // Intervals and timeouts that cannot be read lose no health check
        // silently.
        for v in ["-10s", "99999999999999999d", "99999999999999999h", "P1X"] {
            let op = format!(r#"<op id="m" name="monitor" interval="{v}"/>"#);
            let i = cib_with("", "", &dummy("r", &op), "");
            assert!(
                has(&i.unsupported, &format!("interval '{v}' is not a duration")),
                "interval={v}: {:?}",
                i.unsupported
            );
        }
        // ISO-8601 periods read as Pacemaker reads them.
        let op = r#"<op id="m" name="monitor" interval="P40S"/><op id="n" name="monitor" interval="PT1M" role="Promoted"/>"#;
        let i = cib_with("", "", &dummy("r", op), "");
        assert!(i.unsupported.is_empty(), "{:?}", i.unsupported);
        // A timeout that cannot be read leaves the default, as in Pacemaker,
        // and says so.
        let op = r#"<op id="m" name="monitor" interval="10s" timeout="soon"/>"#;
        let i = cib_with("", "", &dummy("r", op), "");
        assert!(
            has(&i.notes, "timeout 'soon' is not a duration"),
            "{:?}",
            i.notes
        );
        // Two nodes with one name.
        let i = cib_with("", r#"<node id="2" uname="n1"/>"#, "", "");
        assert!(has(
            &i.unsupported,
            "node name 'n1' given to more than one node (ids 1 and 2)"
        ));
        // An agent name that could write policy text or leave the agents'
        // directory is refused.
        for t in [
            "x&quot;}&#10;resource evil: ocf:heartbeat:Dummy {&#10;#",
            "&amp;",
            "../../bin/sh",
        ] {
            let r = format!(r#"<primitive id="r" class="ocf" provider="heartbeat" type="{t}"/>"#);
            let i = cib_with("", "", &r, "");
            assert!(
                has(&i.unsupported, "agent 'ocf:heartbeat:"),
                "{t}: {:?}",
                i.unsupported
            );
            assert!(i.policy.resources.is_empty());
        }
    }

    #[test]
    fn colocations_a_group_implies_and_disabled_operations_are_noted() {
        let group = r#"<group id="g">
            <primitive id="a" class="ocf" provider="heartbeat" type="Dummy"><operations>
            <op id="a-m" name="monitor" interval="10s" enabled="false" on-fail="ignore"/>
            <op id="a-s" name="start" interval="0" enabled="false"/></operations></primitive>
            <primitive id="b" class="ocf" provider="heartbeat" type="Dummy"/></group>"#;
        let i = cib_with(
            "",
            "",
            group,
            r#"<rsc_colocation id="b-with-a" rsc="b" with-rsc="a" score="INFINITY"/>"#,
        );
        assert!(i.unsupported.is_empty(), "{:?}", i.unsupported);
        assert!(
            has(&i.notes, "colocation 'b-with-a' is not written"),
            "{:?}",
            i.notes
        );
        assert!(
            has(&i.notes, "operation 'a-s' of 'a' is disabled"),
            "{:?}",
            i.notes
        );
        // A disabled recurring monitor is kept, not run, for its on-fail.
        let a = i.policy.find("a").and_then(|id| i.policy.resource(id));
        let ops = &a
            .and_then(|r| r.primitive())
            .map(|p| p.ops.clone())
            .unwrap_or_default();
        assert!(
            ops.iter()
                .any(|o| o.disabled && o.on_fail == Some(halo_model::OnFail::Ignore)),
            "{ops:?}"
        );
        assert!(i.policy.constraints.is_empty());
        // The other way round is no repetition: it stays, for check to judge.
        let i = cib_with(
            "",
            "",
            group,
            r#"<rsc_colocation id="a-with-b" rsc="a" with-rsc="b" score="INFINITY"/>"#,
        );
        assert_eq!(i.policy.constraints.len(), 1);
    }

    #[test]
    fn fencing_levels_become_fence_orders() {
        let i = import(
            r#"<cib have-quorum="1"><configuration><crm_config/>
  <nodes><node id="1" uname="n1"/><node id="2" uname="n2"><instance_attributes id="a">
    <nvpair id="a1" name="rack" value="r2"/></instance_attributes></node></nodes>
  <resources><primitive id="ipmi" class="stonith" type="fence_ipmilan"/>
    <primitive id="pdu-a" class="stonith" type="fence_apc"/><primitive id="pdu-b" class="stonith" type="fence_apc"/></resources>
  <constraints/><fencing-topology>
    <fencing-level id="l2" target="n1" index="2" devices="pdu-a,pdu-b"/>
    <fencing-level id="l1" target="n1" index="1" devices="ipmi"/>
    <fencing-level id="l3" target-attribute="rack" target-value="r2" index="1" devices="pdu-a"/>
    <fencing-level id="l4" target-pattern="n.*" index="3" devices="ipmi"/>
  </fencing-topology></configuration><status/></cib>"#,
        )
        .unwrap();
        let orders: Vec<(String, Vec<Vec<String>>)> = i
            .policy
            .cluster
            .fence_orders
            .iter()
            .map(|o| {
                (
                    o.node.clone(),
                    o.levels.iter().map(|l| l.devices.clone()).collect(),
                )
            })
            .collect();
        let v = |d: &[&str]| d.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            orders,
            [
                ("n1".to_string(), vec![v(&["ipmi"]), v(&["pdu-a", "pdu-b"])]),
                ("n2".to_string(), vec![v(&["pdu-a"])]),
            ]
        );
        assert!(
            has(
                &i.unsupported,
                "fencing-level 'l4' chooses its nodes by a pattern"
            ),
            "{:?}",
            i.unsupported
        );
    }

    #[test]
    fn what_is_left_out_without_changing_a_decision_is_noted() {
        let clone = r#"<clone id="c"><meta_attributes id="cm"><nvpair id="n" name="notify" value="true"/></meta_attributes>
            <primitive id="p" class="ocf" provider="heartbeat" type="Dummy"><operations>
            <op id="p-n" name="notify" interval="0"/><op id="p-r" name="reload" interval="0"/></operations></primitive></clone>"#;
        let fence = r#"<primitive id="f" class="stonith" type="fence_dummy"><instance_attributes id="fi">
            <nvpair id="f1" name="pcmk_reboot_timeout" value="240s"/><nvpair id="f2" name="pcmk_reboot_retries" value="4"/>
            </instance_attributes></primitive>"#;
        let i = cib_with(
            r#"<nvpair id="o1" name="priority-fencing-delay" value="10s"/><nvpair id="o2" name="stonith-timeout" value="60s"/>"#,
            "",
            &format!("{clone}{fence}"),
            r#"<rsc_location id="ghost-l" rsc="ghost" node="n1" score="10"/>"#,
        );
        assert!(i.unsupported.is_empty(), "{:?}", i.unsupported);
        assert!(
            i.policy
                .resources
                .iter()
                .any(|r| r.clone.as_ref().is_some_and(|c| c.notify)),
            "notify=true is carried"
        );
        for what in [
            "operation 'p-n' (notify)",
            "operation 'p-r' (reload)",
            "stonith-timeout=60s",
            "constraint 'ghost-l' names resource 'ghost', which does not exist",
        ] {
            assert!(has(&i.notes, what), "{what}: {:?}", i.notes);
        }
        assert_eq!(
            i.policy.cluster.priority_fencing_delay,
            Some(halo_model::Duration::from_secs(10))
        );
        // The device's reboot timeout and retries are its own.
        let f = i.policy.resources.iter().find(|r| r.name == "f").unwrap();
        let spec = f.primitive().unwrap().fence.as_ref().unwrap();
        assert_eq!(spec.timeout, Some(halo_model::Duration::from_secs(240)));
        assert_eq!(spec.retries, 4);
        assert!(!f
            .primitive()
            .unwrap()
            .params
            .contains_key("pcmk_reboot_timeout"));
    }

    /// `common_unpack` reads these through `char2score`: the leading integer
    /// of what is no integer, "default" as the built-in value, and a negative
    /// threshold as 1.
    #[test]
    fn numeric_meta_attributes_are_read_as_char2score_reads_them() {
        let meta = |rsc: &str, pairs: &[(&str, &str)]| {
            let nv: String = pairs
                .iter()
                .enumerate()
                .map(|(i, (k, v))| format!(r#"<nvpair id="{rsc}{i}" name="{k}" value="{v}"/>"#))
                .collect();
            format!(
                r#"<primitive id="{rsc}" class="ocf" provider="heartbeat" type="Dummy"><meta_attributes id="{rsc}m">{nv}</meta_attributes></primitive>"#
            )
        };
        let rscs = [
            meta(
                "a",
                &[("priority", "1.5"), ("resource-stickiness", "default")],
            ),
            meta(
                "b",
                &[
                    ("migration-threshold", "-3"),
                    ("resource-stickiness", "lots"),
                ],
            ),
            meta("c", &[("migration-threshold", "default")]),
        ]
        .concat();
        let i = cib_with("", "", &rscs, "");
        let m = |name: &str| {
            i.policy
                .resources
                .iter()
                .find(|r| r.name == name)
                .unwrap()
                .meta
                .clone()
        };
        assert_eq!(m("a").priority, Some(1));
        assert_eq!(m("a").stickiness, Some(Score::ZERO));
        assert_eq!(m("b").migration_threshold, Some(1));
        assert_eq!(m("b").stickiness, Some(Score::ZERO));
        assert_eq!(m("c").migration_threshold, None);
        assert!(has(
            &i.notes,
            "priority=1.5 of 'a' is not a whole number: read as 1"
        ));
        assert!(has(&i.notes, "resource-stickiness=lots of 'b'"));
    }

    #[test]
    fn clone_counts_beyond_the_bounds_or_unreadable_are_named() {
        let cib = |meta: &str| {
            format!(
                r#"<cib have-quorum="1"><configuration><crm_config/><nodes><node id="1" uname="n1"/></nodes>
  <resources><clone id="c"><meta_attributes id="m">{meta}</meta_attributes>
  <primitive id="p" class="ocf" provider="pacemaker" type="Dummy"/></clone></resources></configuration><status/></cib>"#
            )
        };
        let huge = import(&cib(r#"<nvpair id="a" name="clone-max" value="100000"/>"#)).unwrap();
        assert!(
            huge.unsupported
                .iter()
                .any(|u| u.contains("clone-max=100000")),
            "{:?}",
            huge.unsupported
        );
        let junk = import(&cib(
            r#"<nvpair id="a" name="clone-node-max" value="two"/>"#,
        ))
        .unwrap();
        assert!(
            junk.unsupported
                .iter()
                .any(|u| u.contains("clone-node-max='two' is not a count")),
            "{:?}",
            junk.unsupported
        );
        let fine = import(&cib(r#"<nvpair id="a" name="clone-max" value="2"/>"#)).unwrap();
        assert!(fine.unsupported.is_empty(), "{:?}", fine.unsupported);
    }

    #[test]
    fn malformed_xml_is_an_error_not_a_panic() {
        let lt = r#"<cib><configuration><crm_config/><nodes><node id="1" uname="a<b"/></nodes><resources/></configuration><status/></cib>"#;
        let e = import(lt).unwrap_err();
        assert!(e.contains("`<` inside the tag of <node>"), "{e}");
        // The streaming reader refuses it too (or leaves it to the whole read).
        assert!(!matches!(
            import_from(lt.as_bytes(), None, None),
            Ok(Some(_))
        ));
        assert!(import("<cib><configuration>").is_err());
        assert!(import("<html/>").is_err());
        assert!(import("\0\u{1}garbage").is_err());
    }

    /// One primitive `r` with the given operation history on n1.
    fn history(meta: &str, ops: &str) -> Imported {
        import(&history_xml(meta, ops)).unwrap()
    }

    fn history_xml(meta: &str, ops: &str) -> String {
        format!(
            r#"<cib have-quorum="1" execution-date="1000">
  <configuration>
    <crm_config><cluster_property_set id="o"><nvpair id="o1" name="stonith-enabled" value="false"/></cluster_property_set></crm_config>
    <nodes><node id="1" uname="n1"/></nodes>
    <resources><primitive id="r" class="ocf" provider="pacemaker" type="Dummy">{meta}
      <operations><op id="r-m" name="monitor" interval="10s"/></operations></primitive></resources>
  </configuration>
  <status><node_state id="1" uname="n1" in_ccm="true" crmd="online" join="member" expected="member">
    <lrm id="1"><lrm_resources><lrm_resource id="r" class="ocf" provider="pacemaker" type="Dummy">{ops}</lrm_resource></lrm_resources></lrm>
  </node_state></status>
</cib>"#
        )
    }

    #[test]
    fn results_are_judged_against_the_expected_rc() {
        // A probe that expected "not running" (7) and found it running.
        let i = history(
            "",
            r#"<lrm_rsc_op id="a" operation="monitor" call-id="1" rc-code="0" op-status="0" interval="0" transition-key="1:1:7:x"/>"#,
        );
        let r = &i.state.resources["r"]["n1"];
        assert_eq!(r.role, Role::Started);
        assert!(r.failed.is_none());
        // A recurring monitor that expected "running" (0) and got "promoted" (8).
        let i = history(
            "",
            r#"<lrm_rsc_op id="a" operation="start" call-id="1" rc-code="0" op-status="0" interval="0" transition-key="1:1:0:x"/>
               <lrm_rsc_op id="b" operation="monitor" call-id="2" rc-code="8" op-status="0" interval="10000" transition-key="2:1:0:x"/>"#,
        );
        let r = &i.state.resources["r"]["n1"];
        assert_eq!(r.failed.as_ref().map(|f| f.rc), Some(8));
    }

    #[test]
    fn hard_errors_and_missing_agents() {
        // rc 4 (insufficient privileges) from a probe: a failure, active.
        let i = history(
            "",
            r#"<lrm_rsc_op id="a" operation="monitor" call-id="1" rc-code="4" op-status="0" interval="0" transition-key="1:1:7:x"/>"#,
        );
        let r = &i.state.resources["r"]["n1"];
        assert_eq!(r.role, Role::Started);
        assert_eq!(r.failed.as_ref().map(|f| f.rc), Some(4));
        // The executor could not find the agent (op-status 7).
        let i = history(
            "",
            r#"<lrm_rsc_op id="a" operation="start" call-id="1" rc-code="0" op-status="0" interval="0" transition-key="1:1:0:x"/>
               <lrm_rsc_op id="b" operation="monitor" call-id="2" rc-code="5" op-status="7" interval="10000" transition-key="2:1:0:x"/>"#,
        );
        let f = i.state.resources["r"]["n1"].failed.clone().unwrap();
        assert!(f.agent_missing);
        assert_eq!(f.rc, 5);
    }

    #[test]
    fn failures_older_than_failure_timeout_are_forgotten() {
        let meta = r#"<meta_attributes id="m"><nvpair id="m1" name="failure-timeout" value="60"/></meta_attributes>"#;
        let ops = r#"<lrm_rsc_op id="a" operation="start" call-id="1" rc-code="0" op-status="0" interval="0" transition-key="1:1:0:x" last-rc-change="100"/>
               <lrm_rsc_op id="b" operation="monitor" call-id="2" rc-code="1" op-status="0" interval="10000" transition-key="2:1:0:x" last-rc-change="900"/>"#;
        // At 1000 (the execution date), 100 s after the failure: forgotten.
        let i = history(meta, ops);
        assert!(i.state.resources["r"]["n1"].failed.is_none());
        // At 950, 50 s after it: still standing.
        let i = import_at(&history_xml(meta, ops), Some(950), None).unwrap();
        assert!(i.state.resources["r"]["n1"].failed.is_some());
    }
}
