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
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParamInfo {
    pub name: String,
    pub required: bool,
    pub unique: bool,
    pub deprecated: bool,
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

impl AgentInfo {
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
        assert!(parse("<html/>").is_err());
        assert!(parse("<resource-agent").is_err());
    }
}
