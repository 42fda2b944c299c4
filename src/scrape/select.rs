//! `collect[]` / `exclude[]`: which enabled collectors one request asks for.

use super::Scraper;

/// Why a `collect[]`/`exclude[]` selection was refused (HTTP 400, node_exporter's wording).
#[derive(Debug, PartialEq, Eq)]
pub struct SelectionError(pub String);

impl Scraper {
    /// Resolves `collect[]` / `exclude[]` as node_exporter's handler does.
    pub fn select(
        &self,
        collect: &[String],
        exclude: &[String],
    ) -> Result<Vec<usize>, SelectionError> {
        if !collect.is_empty() && !exclude.is_empty() {
            return Err(SelectionError(
                "Combined collect and exclude queries are not allowed.".into(),
            ));
        }
        if collect.is_empty() {
            return Ok((0..self.entries.len())
                .filter(|&i| !exclude.iter().any(|x| x == self.entries[i].name))
                .collect());
        }
        let mut picked = Vec::new();
        for name in collect {
            match self.entries.iter().position(|e| e.name == name) {
                Some(i) => {
                    if !picked.contains(&i) {
                        picked.push(i);
                    }
                }
                None => {
                    let why = if nodex_collectors::registry::find(name).is_some() {
                        "disabled collector"
                    } else {
                        "missing collector"
                    };
                    return Err(SelectionError(format!(
                        "Couldn't create filtered metrics handler: couldn't create collector: {why}: {name}"
                    )));
                }
            }
        }
        picked.sort_unstable();
        Ok(picked)
    }
}
