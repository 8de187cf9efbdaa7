//! Pacemaker compatibility: reads a CIB (the XML of `cibadmin -Q`: configuration
//! and status) and turns it into Halo's policy IR and observed state, listing by
//! name whatever Halo cannot express yet.
//!
//! Like the language and the engine, this crate is pure: it takes XML text and
//! returns data. It does no I/O and reads no clock.

mod config;
mod status;
mod xml;

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
    /// `origins[o]` is the CIB id behind policy origin `o`.
    pub origins: Vec<String>,
    /// The CIB's `execution-date`: the time its status was recorded for.
    pub execution_date: Option<i64>,
}

/// Imports a CIB. Fails only when the XML is malformed or is not a CIB.
pub fn import(xml: &str) -> Result<Imported, String> {
    let root = xml::parse(xml)?;
    if root.name != "cib" {
        return Err(format!("the root element is <{}>, not <cib>", root.name));
    }
    let mut b = config::Builder::default();
    let cfg = root
        .first("configuration")
        .ok_or("the CIB has no <configuration> section")?;
    b.configuration(cfg);
    let mut state = ClusterState::default();
    for n in &b.standby {
        state.node_mut(n).standby = true;
    }
    for n in &b.maintenance {
        state.node_mut(n).maintenance = true;
    }
    // Membership decides quorum in Pacemaker; the CIB records the verdict.
    state.quorate = root.attr("have-quorum").map(|v| v == "1" || v == "true");
    // Without a status section every node is one the cluster has never seen.
    let empty = xml::Element::default();
    b.status(root.first("status").unwrap_or(&empty), &mut state);
    b.unsupported.sort();
    b.unsupported.dedup();
    // As a compiled policy has them, so both give identical plans and output.
    b.policy.cluster.nodes.sort_by(|x, y| x.name.cmp(&y.name));
    state.normalize();
    let execution_date = root.attr("execution-date").and_then(|v| v.parse().ok());
    Ok(Imported {
        policy: b.policy,
        state,
        display: b.display,
        unsupported: b.unsupported,
        origins: b.origins,
        execution_date,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use halo_model::{NodeStatus, Role};

    const CIB: &str = r#"<cib have-quorum="1" execution-date="1700000000">
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

    #[test]
    fn malformed_xml_is_an_error_not_a_panic() {
        assert!(import("<cib><configuration>").is_err());
        assert!(import("<html/>").is_err());
        assert!(import("\0\u{1}garbage").is_err());
    }
}
