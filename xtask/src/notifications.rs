//! `cargo xtask notifications [--corpus DIR]`
//!
//! Clone notifications against Pacemaker's: for every corpus case in
//! `tests/pcmk.passing` whose CIB has a clone with notifications, the notify
//! actions in crm_simulate's transition graph (`crm_simulate -x CASE -S -G`)
//! and in `halo simulate --cib CASE --format json` must be the same multiset:
//! resource, node, phase (`notify_type`), operation (`notify_operation`), the
//! node lists (`notify_{start,stop,promote,demote,active,promoted,unpromoted}_uname`)
//! and the instance lists without instance numbers (Halo numbers instances its
//! own way). A clone imported from a CIB takes the clone's id in Halo, so
//! Halo's names are mapped to the cloned primitive's id before comparing.

use crate::{build_halo, root, RATCHET};
use quick_xml::events::Event;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const LISTS: [&str; 7] = [
    "start",
    "stop",
    "promote",
    "demote",
    "active",
    "promoted",
    "unpromoted",
];

/// One notification as both sides describe it.
type Key = (String, String, String, String, Vec<String>);

pub fn run(args: &[String]) -> Result<ExitCode, String> {
    let corpus = match args {
        [] => std::env::var_os("HALO_PCMK_CORPUS")
            .map_or_else(|| root().join("../shared/pcmk-corpus"), PathBuf::from),
        [flag, dir] if flag == "--corpus" => PathBuf::from(dir),
        _ => return Err("usage: cargo xtask notifications [--corpus DIR]".into()),
    };
    let halo = build_halo()?;
    let listed = std::fs::read_to_string(root().join(RATCHET))
        .map_err(|e| format!("cannot read {RATCHET}: {e}"))?;
    let dir = std::env::temp_dir().join(format!("halo-notify-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let (mut same, mut differ) = (0, Vec::new());
    for case in listed
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let xml = corpus.join("xml").join(format!("{case}.xml"));
        let cib = std::fs::read_to_string(&xml).map_err(|e| format!("{}: {e}", xml.display()))?;
        if !cib.contains("name=\"notify\"") {
            continue;
        }
        let theirs = pacemaker(&xml, &dir.join(format!("{case}.graph")))?;
        let ours = halo_notices(&halo, &xml, &cloned_primitives(&cib)?)?;
        if theirs == ours {
            same += 1;
        } else {
            differ.push(format!(
                "{case}: crm_simulate {} notifications, halo {}; first difference: {:?}",
                theirs.values().sum::<usize>(),
                ours.values().sum::<usize>(),
                first_difference(&theirs, &ours)
            ));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "clone notifications: {same}/{} corpus cases with notifications match crm_simulate's transition graph",
        same + differ.len()
    );
    if differ.is_empty() && same > 0 {
        return Ok(ExitCode::SUCCESS);
    }
    for d in &differ {
        eprintln!("  {d}");
    }
    Ok(ExitCode::FAILURE)
}

fn first_difference(a: &BTreeMap<Key, usize>, b: &BTreeMap<Key, usize>) -> Option<Key> {
    a.iter()
        .find(|(k, n)| b.get(*k) != Some(n))
        .or_else(|| b.iter().find(|(k, n)| a.get(*k) != Some(n)))
        .map(|(k, _)| k.clone())
}

/// Without the instance number: `db:1` is `db`.
fn base(instance: &str) -> &str {
    match instance.rsplit_once(':') {
        Some((b, n)) if n.bytes().all(|c| c.is_ascii_digit()) => b,
        _ => instance,
    }
}

/// A list's words, sorted, instance numbers dropped, names mapped.
fn words(list: &str, map: &dyn Fn(&str) -> String) -> String {
    let mut w: Vec<String> = list.split_whitespace().map(|x| map(base(x))).collect();
    w.sort();
    w.join(" ")
}

fn key(
    rsc: String,
    node: String,
    vars: &dyn Fn(&str) -> String,
    map: &dyn Fn(&str) -> String,
) -> Key {
    let mut lists = Vec::new();
    for l in LISTS {
        lists.push(words(&vars(&format!("notify_{l}_uname")), &|x| {
            x.to_string()
        }));
        lists.push(words(&vars(&format!("notify_{l}_resource")), map));
    }
    (
        rsc,
        node,
        vars("notify_type"),
        vars("notify_operation"),
        lists,
    )
}

/// The notify actions of crm_simulate's transition graph for `xml`.
fn pacemaker(xml: &Path, graph: &Path) -> Result<BTreeMap<Key, usize>, String> {
    let out = Command::new("crm_simulate")
        .arg("-x")
        .arg(xml)
        .arg("-S")
        .arg("-G")
        .arg(graph)
        .output()
        .map_err(|e| format!("cannot run crm_simulate: {e}"))?;
    if !graph.exists() {
        return Err(format!(
            "crm_simulate wrote no graph for {}: {}",
            xml.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let text = std::fs::read_to_string(graph).map_err(|e| format!("{}: {e}", graph.display()))?;
    let mut reader = quick_xml::Reader::from_str(&text);
    let mut found = BTreeMap::new();
    // (resource, node) of the notify rsc_op being read.
    let mut op: Option<(String, String)> = None;
    let mut rsc = String::new();
    loop {
        let ev = reader
            .read_event()
            .map_err(|e| format!("{}: {e}", graph.display()))?;
        let (Event::Start(e) | Event::Empty(e)) = &ev else {
            if matches!(ev, Event::Eof) {
                break;
            }
            if matches!(&ev, Event::End(e) if e.name().as_ref() == b"rsc_op") {
                op = None;
            }
            continue;
        };
        let attrs: BTreeMap<String, String> = e
            .attributes()
            .flatten()
            .map(|a| {
                let k = String::from_utf8_lossy(a.key.as_ref()).into_owned();
                (
                    k,
                    a.unescape_value()
                        .map(|v| v.into_owned())
                        .unwrap_or_default(),
                )
            })
            .collect();
        let get = |k: &str| attrs.get(k).cloned().unwrap_or_default();
        match e.name().as_ref() {
            // A trigger names an action without its attributes (and is empty).
            b"rsc_op" => {
                let full = matches!(ev, Event::Start(_)) && get("operation") == "notify";
                op = full.then(|| (String::new(), get("on_node")));
            }
            b"primitive" if op.is_some() => rsc = base(&get("id")).to_string(),
            b"attributes" => {
                if let Some((_, node)) = op.take() {
                    let vars = |k: &str| get(&format!("CRM_meta_{k}"));
                    let k = key(std::mem::take(&mut rsc), node, &vars, &|x| x.to_string());
                    *found.entry(k).or_insert(0) += 1;
                }
            }
            _ => {}
        }
    }
    Ok(found)
}

/// Each clone's id and the id of the primitive it clones.
fn cloned_primitives(cib: &str) -> Result<BTreeMap<String, String>, String> {
    let mut reader = quick_xml::Reader::from_str(cib);
    let mut map = BTreeMap::new();
    let mut clone: Option<String> = None;
    loop {
        match reader.read_event().map_err(|e| e.to_string())? {
            Event::Eof => break,
            Event::Start(e) | Event::Empty(e) => {
                let id = e
                    .try_get_attribute("id")
                    .ok()
                    .flatten()
                    .map(|a| String::from_utf8_lossy(&a.value).into_owned());
                match e.name().as_ref() {
                    b"clone" | b"master" => clone = id,
                    b"primitive" => {
                        if let (Some(c), Some(p)) = (clone.take(), id) {
                            map.insert(c, p);
                        }
                    }
                    b"group" => clone = None,
                    _ => {}
                }
            }
            _ => {}
        }
    }
    Ok(map)
}

/// The notify actions of Halo's plan for `xml`.
fn halo_notices(
    halo: &Path,
    xml: &Path,
    cloned: &BTreeMap<String, String>,
) -> Result<BTreeMap<Key, usize>, String> {
    let out = Command::new(halo)
        .args(["simulate", "--format", "json", "--cib"])
        .arg(xml)
        .output()
        .map_err(|e| format!("cannot run halo: {e}"))?;
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| {
        format!(
            "{}: halo's JSON does not parse ({e}): {}",
            xml.display(),
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    let map = |x: &str| cloned.get(x).cloned().unwrap_or_else(|| x.to_string());
    let mut found = BTreeMap::new();
    let actions = plan["actions"].as_array().cloned().unwrap_or_default();
    for a in actions.iter().filter(|a| a["kind"] == "notify") {
        let vars = |k: &str| {
            a["notice"]["vars"][k]
                .as_str()
                .unwrap_or_default()
                .to_string()
        };
        let rsc = map(a["rsc"].as_str().unwrap_or_default());
        let node = a["node"].as_str().unwrap_or_default().to_string();
        *found.entry(key(rsc, node, &vars, &map)).or_insert(0) += 1;
    }
    Ok(found)
}
