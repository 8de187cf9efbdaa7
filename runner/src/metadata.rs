//! Agent meta-data: the XML an OCF agent prints for `meta-data` and a fence
//! agent for `-o metadata`, read into its parameters and default operations.

use quick_xml::events::Event;
use quick_xml::Reader;

/// What an agent says about itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AgentInfo {
    pub name: String,
    pub shortdesc: String,
    pub longdesc: String,
    pub params: Vec<ParamInfo>,
    pub actions: Vec<ActionInfo>,
    /// The OCF version the agent follows (`<version>`), when it says.
    pub ocf_version: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParamInfo {
    pub name: String,
    pub required: bool,
    pub unique: bool,
    pub deprecated: bool,
    /// OCF 1.1: the agent's `reload-agent` takes a change of it in place.
    pub reloadable: bool,
    /// `string`, `integer`, `boolean`, `second`, `time`, `select`...
    pub kind: String,
    pub default: Option<String>,
    pub shortdesc: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ActionInfo {
    pub name: String,
    pub timeout: Option<String>,
    pub interval: Option<String>,
    pub role: Option<String>,
    pub depth: Option<String>,
}

/// How an agent takes changed parameters without a restart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reload {
    /// It cannot: a change restarts it.
    None,
    /// OCF 1.1's `reload-agent`: the parameters marked `reloadable`.
    Agent,
    /// Before OCF 1.1, `reload`: every parameter not marked `unique`.
    Legacy,
}

impl AgentInfo {
    /// How the agent reloads, by Pacemaker 2.1.5's reading of meta-data
    /// (`controld_metadata.c`): `reload-agent` counts only from an agent
    /// following OCF 1.1 or later, `reload` only from an older one.
    pub fn reload(&self) -> Reload {
        let ocf11 = self.ocf_version.as_deref().is_some_and(|v| {
            let mut parts = v.split('.').map(|p| p.trim().parse::<u32>().unwrap_or(0));
            let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
            (major, minor) >= (1, 1)
        });
        let has = |name: &str| self.actions.iter().any(|a| a.name == name);
        if ocf11 && has("reload-agent") {
            Reload::Agent
        } else if !ocf11 && has("reload") {
            Reload::Legacy
        } else {
            Reload::None
        }
    }

    /// Where the agent can reload: the parameters whose change still needs
    /// a restart (Pacemaker's `op-force-restart`, `append_restart_list`):
    /// for OCF 1.1 those not marked reloadable, before it those marked
    /// unique. `None` when it cannot reload.
    pub fn restart_params(&self) -> Option<Vec<String>> {
        let keep: fn(&ParamInfo) -> bool = match self.reload() {
            Reload::None => return None,
            Reload::Agent => |p| !p.reloadable,
            Reload::Legacy => |p| p.unique,
        };
        Some(
            self.params
                .iter()
                .filter(|p| keep(p))
                .map(|p| p.name.clone())
                .collect(),
        )
    }

    /// Whether the agent has promote and demote actions.
    pub fn promotable(&self) -> bool {
        self.actions.iter().any(|a| a.name == "promote")
            && self.actions.iter().any(|a| a.name == "demote")
    }
}

/// Reads meta-data XML, or says where it is malformed.
pub fn parse(xml: &str) -> Result<AgentInfo, String> {
    let mut r = Reader::from_str(xml);
    r.config_mut().trim_text(true);
    let mut info = AgentInfo::default();
    let mut path: Vec<String> = Vec::new();
    loop {
        let pos = r.buffer_position();
        let ev = r
            .read_event()
            .map_err(|e| format!("malformed meta-data at byte {pos}: {e}"))?;
        match ev {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                let attr = |k: &str| -> Option<String> {
                    e.attributes()
                        .with_checks(false)
                        .flatten()
                        .find(|a| a.key.as_ref() == k.as_bytes())
                        .and_then(|a| a.unescape_value().ok().map(|v| v.into_owned()))
                };
                let yes = |k: &str| attr(k).is_some_and(|v| v == "1" || v == "true");
                match name.as_str() {
                    "resource-agent" => {
                        info.name = attr("name").unwrap_or_default();
                        if let Some(d) = attr("shortdesc") {
                            info.shortdesc = d;
                        }
                    }
                    "parameter" => info.params.push(ParamInfo {
                        name: attr("name").unwrap_or_default(),
                        required: yes("required"),
                        unique: yes("unique"),
                        deprecated: yes("deprecated"),
                        reloadable: yes("reloadable"),
                        ..ParamInfo::default()
                    }),
                    "content" if path.last().map(String::as_str) == Some("parameter") => {
                        if let Some(p) = info.params.last_mut() {
                            p.kind = attr("type").unwrap_or_else(|| "string".into());
                            p.default = attr("default").filter(|d| !d.is_empty());
                        }
                    }
                    "action" => info.actions.push(ActionInfo {
                        name: attr("name").unwrap_or_default(),
                        timeout: attr("timeout"),
                        interval: attr("interval"),
                        role: attr("role"),
                        depth: attr("depth"),
                    }),
                    _ => {}
                }
                if matches!(ev, Event::Start(_)) {
                    path.push(name);
                }
            }
            Event::Text(t) => {
                let text = t.unescape().map(|c| c.into_owned()).unwrap_or_default();
                let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
                let here: Vec<&str> = path.iter().map(String::as_str).collect();
                match here.as_slice() {
                    [.., "resource-agent", "shortdesc"] => info.shortdesc = text,
                    [.., "resource-agent", "longdesc"] => info.longdesc = text,
                    [.., "resource-agent", "version"] => info.ocf_version = Some(text),
                    [.., "parameter", "shortdesc"] => {
                        if let Some(p) = info.params.last_mut() {
                            p.shortdesc = text;
                        }
                    }
                    _ => {}
                }
            }
            Event::End(_) => {
                path.pop();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if info.name.is_empty() && info.params.is_empty() && info.actions.is_empty() {
        return Err("no <resource-agent> element: this is not agent meta-data".into());
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_parameters_and_actions() {
        let xml = r#"<?xml version="1.0"?>
<resource-agent name="Widget" version="1.0">
  <shortdesc lang="en">Runs a widget</shortdesc>
  <parameters>
    <parameter name="config" required="1" unique="1">
      <shortdesc lang="en">Path of the
        configuration</shortdesc>
      <content type="string"/>
    </parameter>
    <parameter name="port"><content type="integer" default="8080"/></parameter>
  </parameters>
  <actions>
    <action name="start" timeout="30s"/>
    <action name="promote" timeout="10s"/>
    <action name="demote" timeout="10s"/>
    <action name="monitor" timeout="20s" interval="10s" role="Promoted"/>
  </actions>
</resource-agent>"#;
        let a = parse(xml).unwrap();
        assert_eq!(a.name, "Widget");
        assert_eq!(a.shortdesc, "Runs a widget");
        assert_eq!(a.params[0].shortdesc, "Path of the configuration");
        assert!(a.params[0].required && a.params[0].unique);
        assert_eq!(a.params[1].default.as_deref(), Some("8080"));
        assert_eq!(a.params[1].kind, "integer");
        assert!(a.promotable());
        assert_eq!(a.actions[3].role.as_deref(), Some("Promoted"));
        assert_eq!(a.reload(), Reload::None);
        assert_eq!(a.restart_params(), None);
        assert!(parse("<html/>").is_err());
        assert!(parse("<resource-agent").is_err());
    }

    #[test]
    fn reload_support_follows_the_ocf_version() {
        let agent = |version: &str, actions: &str| {
            parse(&format!(
                r#"<resource-agent name="A"><version>{version}</version><parameters>
                <parameter name="state" unique="1"/>
                <parameter name="fake" unique="0" reloadable="1"/>
                <parameter name="port"/></parameters>
                <actions>{actions}</actions></resource-agent>"#
            ))
            .unwrap()
        };
        let both = r#"<action name="reload"/><action name="reload-agent"/>"#;
        // OCF 1.1: reload-agent, every parameter not marked reloadable.
        let a = agent("1.1", both);
        assert_eq!(a.reload(), Reload::Agent);
        assert_eq!(a.restart_params().unwrap(), ["state", "port"]);
        // Before 1.1: reload, only the unique parameters need a restart.
        let a = agent("1.0", both);
        assert_eq!(a.reload(), Reload::Legacy);
        assert_eq!(a.restart_params().unwrap(), ["state"]);
        // reload-agent from a 1.0 agent, reload from a 1.1 one: neither.
        assert_eq!(
            agent("1.0", r#"<action name="reload-agent"/>"#).reload(),
            Reload::None
        );
        assert_eq!(
            agent("1.1", r#"<action name="reload"/>"#).reload(),
            Reload::None
        );
        assert_eq!(
            agent("1.10", r#"<action name="reload-agent"/>"#).reload(),
            Reload::Agent
        );
    }
}
