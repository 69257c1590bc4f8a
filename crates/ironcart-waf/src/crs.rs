//! Reads an OWASP CRS 4 directory the way users download it: the setup file
//! (`crs-setup.conf`, else the shipped `crs-setup.conf.example`, whose
//! defaults are what CRS documents) and every `rules/*.conf` in name order,
//! with `@pmFromFile` data files resolved inside `rules/`.

use std::path::{Path, PathBuf};

use crate::LoadError;
use crate::compile::RuleSource;

/// The text of a CRS installation.
#[derive(Debug)]
pub(crate) struct CrsFiles {
    setup: (String, String),
    rules: Vec<(String, String)>,
    data_dir: PathBuf,
}

impl CrsFiles {
    pub(crate) fn setup_source(&self) -> RuleSource<'_> {
        RuleSource {
            name: self.setup.0.clone(),
            text: &self.setup.1,
            data_dir: Some(&self.data_dir),
        }
    }

    pub(crate) fn rule_sources(&self) -> impl Iterator<Item = RuleSource<'_>> {
        self.rules.iter().map(|(name, text)| RuleSource {
            name: name.clone(),
            text,
            data_dir: Some(&self.data_dir),
        })
    }
}

/// Reads `dir` (the CRS root, or its `rules/` folder).
pub(crate) fn read(dir: &Path) -> Result<CrsFiles, LoadError> {
    let rules_dir = if dir.join("rules").is_dir() {
        dir.join("rules")
    } else {
        dir.to_path_buf()
    };
    let root = if rules_dir == dir {
        dir.parent().unwrap_or(dir).to_path_buf()
    } else {
        dir.to_path_buf()
    };
    let setup = read_setup(&root)?;
    let rules = read_rules(&rules_dir)?;
    if rules.is_empty() {
        return Err(LoadError::NotCrs(dir.to_path_buf()));
    }
    Ok(CrsFiles {
        setup,
        rules,
        data_dir: rules_dir,
    })
}

fn read_setup(root: &Path) -> Result<(String, String), LoadError> {
    for name in ["crs-setup.conf", "crs-setup.conf.example"] {
        let path = root.join(name);
        if path.is_file() {
            return Ok((name.to_owned(), read_text(&path)?));
        }
    }
    // Without a setup file CRS refuses to run (rule 901001); say so at load.
    Err(LoadError::NotCrs(root.to_path_buf()))
}

fn read_rules(rules_dir: &Path) -> Result<Vec<(String, String)>, LoadError> {
    let entries = std::fs::read_dir(rules_dir).map_err(|source| LoadError::Io {
        path: rules_dir.to_path_buf(),
        source,
    })?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "conf"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|path| {
            let name = path
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
            Ok((name, read_text(path)?))
        })
        .collect()
}

fn read_text(path: &Path) -> Result<String, LoadError> {
    std::fs::read_to_string(path).map_err(|source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    })
}
