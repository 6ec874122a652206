//! XML for Jenkins: escaping text, and the fields of a `config.xml` as `path → value`, so that
//! what dtm wrote can be compared with what Jenkins holds however Jenkins re-serialises it
//! (XStream adds defaults, plugin versions and its own declaration when it saves an item).

use std::collections::BTreeMap;

use xmlparser::{ElementEnd, Token, Tokenizer};

/// Escapes text for an XML element or attribute.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

#[derive(Debug)]
struct Open {
    path: String,
    text: String,
    children: usize,
    class: Option<String>,
}

/// Every leaf element's text and every `class` attribute, keyed by path from the root
/// (`flow-definition/definition/scm/branches/hudson.plugins.git.BranchSpec/name`). A repeated
/// sibling gets its position (`…/hudson.plugins.git.BranchSpec[1]/name`). `None`: not XML.
pub fn fields(xml: &str) -> Option<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let mut stack: Vec<Open> = Vec::new();
    // Per open element: how often each child name was seen.
    let mut seen: Vec<BTreeMap<String, usize>> = vec![BTreeMap::new()];
    for token in Tokenizer::from(xml) {
        match token.ok()? {
            Token::ElementStart { local, prefix, .. } => {
                let name = if prefix.is_empty() {
                    local.to_string()
                } else {
                    format!("{prefix}:{local}")
                };
                let counts = seen.last_mut()?;
                let n = counts.entry(name.clone()).or_insert(0);
                let segment = if *n == 0 {
                    name
                } else {
                    format!("{name}[{n}]")
                };
                *n += 1;
                let path = match stack.last_mut() {
                    Some(parent) => {
                        parent.children += 1;
                        format!("{}/{segment}", parent.path)
                    }
                    None => segment,
                };
                stack.push(Open {
                    path,
                    text: String::new(),
                    children: 0,
                    class: None,
                });
                seen.push(BTreeMap::new());
            }
            Token::Attribute { local, value, .. } if local.as_str() == "class" => {
                stack.last_mut()?.class = Some(unescape(value.as_str()));
            }
            Token::Text { text } => {
                if let Some(open) = stack.last_mut() {
                    open.text.push_str(&unescape(text.as_str()));
                }
            }
            Token::Cdata { text, .. } => {
                if let Some(open) = stack.last_mut() {
                    open.text.push_str(text.as_str());
                }
            }
            Token::ElementEnd { end, .. } => match end {
                ElementEnd::Open => {}
                ElementEnd::Close(..) | ElementEnd::Empty => {
                    let open = stack.pop()?;
                    seen.pop();
                    if let Some(class) = &open.class {
                        out.insert(format!("{}@class", open.path), class.clone());
                    }
                    if open.children == 0 {
                        out.insert(open.path.clone(), open.text.trim().to_string());
                    }
                }
            },
            _ => {}
        }
    }
    stack.is_empty().then_some(out)
}

/// The root element's name.
pub fn root(xml: &str) -> Option<String> {
    fields(xml)?
        .keys()
        .next()
        .map(|k| k.split(['/', '@']).next().unwrap_or_default().to_string())
}

/// What `live` holds at each of `wanted`'s paths (`None` where it holds nothing), leaving out
/// the paths of secrets, which Jenkins stores encrypted.
pub fn compare(
    wanted: &BTreeMap<String, String>,
    live: &BTreeMap<String, String>,
    secret: impl Fn(&str) -> bool,
) -> BTreeMap<String, Option<String>> {
    wanted
        .keys()
        .filter(|path| !secret(path))
        .map(|path| (path.clone(), live.get(path).cloned()))
        .collect()
}
