//! Which sources a command reads: built-in presets or mapping files, and where their records are.

use anyhow::Result;
use govstream_harness::setup;
use govstream_normalize::{CompiledSource, PseudonymKey};
use std::path::PathBuf;
use std::sync::Arc;

/// `--source NAME=PATH`.
#[derive(Clone, Debug)]
pub struct SourceArg {
    pub name: String,
    pub path: PathBuf,
}

pub fn parse_source_arg(s: &str) -> Result<SourceArg, String> {
    let (name, path) = s.split_once('=').ok_or_else(|| {
        format!("`{s}` is not NAME=PATH (e.g. hotline=data/samples/hotline.ndjson)")
    })?;
    if name.is_empty() || path.is_empty() {
        return Err(format!("`{s}` is not NAME=PATH"));
    }
    Ok(SourceArg {
        name: name.to_owned(),
        path: PathBuf::from(path),
    })
}

/// Options shared by every command that normalizes records.
#[derive(clap::Args, Clone, Debug)]
pub struct SourceOptions {
    /// A source to read: NAME=PATH, one record per line in the source's encoding (a CSV
    /// source: a header row, then one row per record, quoted line breaks allowed). NAME is a
    /// built-in preset (hotline, onenet, bdc, catalogue) or the name of a --mapping file.
    /// Repeatable, also with the same NAME (e.g. an export and its re-export).
    #[arg(long = "source", value_name = "NAME=PATH", value_parser = parse_source_arg, required = true)]
    pub sources: Vec<SourceArg>,
    /// A source mapping file (TOML) that defines another upstream system; see docs/mappings.md.
    /// Repeatable. A mapping with a preset's name replaces the preset.
    #[arg(long = "mapping", value_name = "FILE")]
    pub mappings: Vec<PathBuf>,
    /// File holding the secret that keys caller pseudonyms (HMAC-SHA256 of phone numbers).
    /// Defaults to $GOVSTREAM_PSEUDONYM_KEY, else a fixed demo key (with a warning).
    #[arg(long, value_name = "FILE")]
    pub pseudonym_key_file: Option<PathBuf>,
}

impl SourceOptions {
    pub fn key(&self) -> Result<Arc<PseudonymKey>> {
        Ok(setup::pseudonym_key(self.pseudonym_key_file.as_deref())?)
    }

    /// Compiles the mapping of every `--source`, in the order given.
    pub fn compile(&self) -> Result<Vec<(CompiledSource, PathBuf)>> {
        let key = self.key()?;
        let mappings = self
            .mappings
            .iter()
            .map(|p| setup::load_mapping(p, key.clone()))
            .collect::<Result<Vec<_>, _>>()?;
        let mut out = Vec::new();
        for s in &self.sources {
            let compiled = setup::source_named(&s.name, &mappings, key.clone())?;
            out.push((compiled, s.path.clone()));
        }
        Ok(out)
    }
}
