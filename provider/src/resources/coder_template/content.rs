//! A template's source files: read from the configuration's `files` map or
//! `directory`, packed as the tar archive Coder takes, read back from one
//! (for import), and hashed so that a new template version is made only
//! when the content or the variables change.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tf_framework::ToDiagnostic;
use tf_framework::diagnostic::capitalised;
use tf_protocol::{AttributePath, Diagnostic};

/// Directories a `directory` walk leaves out: Terraform's working data and
/// version control, which are not template source.
const SKIPPED_DIRS: [&str; 2] = [".terraform", ".git"];

/// A template's files, by relative `/`-separated path.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Content {
    files: BTreeMap<String, Vec<u8>>,
}

/// Why a template's content cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ContentError {
    /// A path is not a plain relative path.
    #[error("the file path {path:?} cannot be used: {reason}")]
    BadPath {
        /// The path as given.
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// No files at all.
    #[error("the template has no files")]
    Empty,
    /// The directory or a file in it cannot be read.
    #[error("cannot read {}: {source}", .path.display())]
    Io {
        /// What was being read.
        path: PathBuf,
        /// Why it failed.
        source: std::io::Error,
    },
    /// The archive Coder holds cannot be read.
    #[error("the template version's archive cannot be read: {source}")]
    Archive {
        /// Why it failed.
        source: std::io::Error,
    },
    /// A file of the archive Coder holds is not UTF-8 text, so it cannot be
    /// put in `files`.
    #[error("the template version's file {path:?} is not UTF-8 text")]
    NotText {
        /// The file's path.
        path: String,
    },
}

impl ToDiagnostic for ContentError {
    fn to_diagnostic(&self, attribute: Option<AttributePath>) -> Diagnostic {
        let (summary, advice) = match self {
            Self::BadPath { .. } => (
                "Invalid Template File Path",
                " Paths are relative, use `/`, and have no `.` or `..` parts, e.g. `main.tf` or \
                 `modules/pod/main.tf`.",
            ),
            Self::Empty => (
                "Empty Template",
                " Give the template at least its main.tf, in files or directory.",
            ),
            Self::Io { .. } => (
                "Cannot Read the Template Directory",
                " Check that directory names a readable directory (relative paths are from \
                 where Terraform runs; path.module helps).",
            ),
            Self::Archive { .. } | Self::NotText { .. } => (
                "Cannot Import the Template's Files",
                " Import reads the active version's files into `files`; a template made of \
                 binary files can be managed with `directory` once created by Terraform.",
            ),
        };
        let diagnostic = Diagnostic::error(
            summary,
            format!("{}.{advice}", capitalised(&self.to_string())),
        );
        match attribute {
            Some(path) => diagnostic.at(path),
            None => diagnostic,
        }
    }
}

/// Checks that `path` is a plain relative path.
pub fn check_path(path: &str) -> Result<(), ContentError> {
    let bad = |reason| {
        Err(ContentError::BadPath {
            path: path.to_owned(),
            reason,
        })
    };
    if path.is_empty() {
        return bad("it is empty");
    }
    if path.starts_with('/') {
        return bad("it is absolute");
    }
    if path.contains('\\') {
        return bad("it has a backslash (use `/`)");
    }
    if path.contains('\0') {
        return bad("it has a NUL character");
    }
    if path
        .split('/')
        .any(|part| part.is_empty() || part == "." || part == "..")
    {
        return bad("it has an empty, `.` or `..` part");
    }
    Ok(())
}

impl Content {
    /// The files of a `files` map.
    pub fn from_map(map: &BTreeMap<String, String>) -> Result<Content, ContentError> {
        for path in map.keys() {
            check_path(path)?;
        }
        if map.is_empty() {
            return Err(ContentError::Empty);
        }
        Ok(Content {
            files: map
                .iter()
                .map(|(path, text)| (path.clone(), text.as_bytes().to_vec()))
                .collect(),
        })
    }

    /// The regular files under `dir` (following symbolic links), without
    /// `.terraform` and `.git` directories.
    pub fn from_directory(dir: &Path) -> Result<Content, ContentError> {
        let mut files = BTreeMap::new();
        walk(dir, "", &mut files)?;
        if files.is_empty() {
            return Err(ContentError::Empty);
        }
        Ok(Content { files })
    }

    /// The regular files of a tar archive.
    pub fn from_tar(bytes: &[u8]) -> Result<Content, ContentError> {
        let archive_error = |source| ContentError::Archive { source };
        let mut archive = tar::Archive::new(bytes);
        let mut files = BTreeMap::new();
        for entry in archive.entries().map_err(archive_error)? {
            let mut entry = entry.map_err(archive_error)?;
            if !entry.header().entry_type().is_file() {
                continue;
            }
            let path = entry.path().map_err(archive_error)?;
            let path = path.to_string_lossy().trim_start_matches("./").to_owned();
            let mut data = Vec::new();
            entry.read_to_end(&mut data).map_err(archive_error)?;
            files.insert(path, data);
        }
        Ok(Content { files })
    }

    /// The files as text, for `files`.
    pub fn to_text(&self) -> Result<BTreeMap<String, String>, ContentError> {
        self.files
            .iter()
            .map(|(path, data)| match std::str::from_utf8(data) {
                Ok(text) => Ok((path.clone(), text.to_owned())),
                Err(_) => Err(ContentError::NotText { path: path.clone() }),
            })
            .collect()
    }

    /// The files as a tar archive, in path order, with fixed modes and
    /// times: the same content always gives the same bytes. Each
    /// directory gets an entry of its own before its files: Coder's
    /// provisioner creates no missing parent directories when it unpacks.
    pub fn to_tar(&self) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        let dirs: std::collections::BTreeSet<&str> = self
            .files
            .keys()
            .flat_map(|path| path.match_indices('/').map(move |(end, _)| &path[..end]))
            .collect();
        for dir in dirs {
            let mut header = tar::Header::new_gnu();
            header.set_size(0);
            header.set_mode(0o755);
            header.set_mtime(0);
            header.set_entry_type(tar::EntryType::Directory);
            builder
                .append_data(&mut header, format!("{dir}/"), std::io::empty())
                .expect("a checked path fits a GNU tar header");
        }
        for (path, data) in &self.files {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_mtime(0);
            header.set_entry_type(tar::EntryType::Regular);
            // Writing to a Vec fails only for paths tar cannot hold, and
            // GNU long names hold any path check_path allows.
            builder
                .append_data(&mut header, path, data.as_slice())
                .expect("a checked path fits a GNU tar header");
        }
        builder
            .into_inner()
            .expect("finishing a tar archive in memory cannot fail")
    }

    /// `sha256:` and the hex SHA-256 of the files and the variables, each
    /// length-prefixed so that no two different contents hash alike.
    pub fn hash(&self, variables: &BTreeMap<String, String>) -> String {
        let mut hasher = Sha256::new();
        hasher.update(b"cvm_coder_template content 1\0");
        let mut field = |tag: &[u8], bytes: &[u8]| {
            hasher.update(tag);
            hasher.update((bytes.len() as u64).to_le_bytes());
            hasher.update(bytes);
        };
        for (path, data) in &self.files {
            field(b"path", path.as_bytes());
            field(b"data", data);
        }
        for (name, value) in variables {
            field(b"name", name.as_bytes());
            field(b"value", value.as_bytes());
        }
        let digest = hasher.finalize();
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        format!("sha256:{hex}")
    }
}

fn walk(
    dir: &Path,
    prefix: &str,
    files: &mut BTreeMap<String, Vec<u8>>,
) -> Result<(), ContentError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| ContentError::Io { path, source }
    };
    let entries = std::fs::read_dir(dir).map_err(io(dir))?;
    for entry in entries {
        let entry = entry.map_err(io(dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        let meta = std::fs::metadata(&path).map_err(io(&path))?;
        let relative = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        if meta.is_dir() {
            if !SKIPPED_DIRS.contains(&name.as_str()) {
                walk(&path, &relative, files)?;
            }
        } else if meta.is_file() {
            check_path(&relative)?;
            let data = std::fs::read(&path).map_err(io(&path))?;
            files.insert(relative, data);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn paths_must_be_plain_and_relative() {
        for good in ["main.tf", "modules/pod/main.tf", ".hidden/x"] {
            assert!(check_path(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../b",
            "a//b",
            "./main.tf",
            "a\\b",
        ] {
            assert!(check_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_archive_reads_back_as_the_same_files() {
        let long = format!("{}/main.tf", "d".repeat(120));
        let content =
            Content::from_map(&map(&[("main.tf", "x"), (&long, "y"), ("b/c.tf", "z")])).unwrap();
        let tar = content.to_tar();
        assert_eq!(tar, content.to_tar(), "the archive is deterministic");
        // Directories come first, each once, parents before children.
        let mut archive = tar::Archive::new(tar.as_slice());
        let kinds: Vec<(String, bool)> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let dir = e.header().entry_type().is_dir();
                (e.path().unwrap().to_string_lossy().into_owned(), dir)
            })
            .collect();
        assert_eq!(kinds[0], ("b/".to_owned(), true));
        assert_eq!(kinds[1], (format!("{}/", "d".repeat(120)), true));
        assert_eq!(kinds.iter().filter(|(_, dir)| *dir).count(), 2);
        assert_eq!(Content::from_tar(&tar).unwrap(), content);
        assert_eq!(
            Content::from_tar(&tar).unwrap().to_text().unwrap(),
            map(&[("main.tf", "x"), (&long, "y"), ("b/c.tf", "z")])
        );
    }

    #[test]
    fn the_hash_changes_with_files_and_variables_only() {
        let a = Content::from_map(&map(&[("main.tf", "x")])).unwrap();
        let vars = map(&[("image", "ubuntu")]);
        assert_eq!(a.hash(&vars), a.hash(&vars));
        let b = Content::from_map(&map(&[("main.tf", "y")])).unwrap();
        assert_ne!(a.hash(&vars), b.hash(&vars));
        assert_ne!(a.hash(&vars), a.hash(&map(&[("image", "debian")])));
        // Lengths are part of the hash: moving a byte between fields changes it.
        let c = Content::from_map(&map(&[("main.t", "fx")])).unwrap();
        assert_ne!(a.hash(&BTreeMap::new()), c.hash(&BTreeMap::new()));
        assert!(a.hash(&vars).starts_with("sha256:"));
        assert_eq!(a.hash(&vars).len(), "sha256:".len() + 64);
    }

    #[test]
    fn a_directory_is_read_without_terraform_and_git_data() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("main.tf"), "x").unwrap();
        std::fs::create_dir_all(dir.path().join("modules/pod")).unwrap();
        std::fs::write(dir.path().join("modules/pod/main.tf"), "y").unwrap();
        std::fs::create_dir_all(dir.path().join(".terraform/providers")).unwrap();
        std::fs::write(dir.path().join(".terraform/providers/p"), "z").unwrap();
        std::fs::create_dir_all(dir.path().join(".git")).unwrap();
        std::fs::write(dir.path().join(".git/HEAD"), "ref").unwrap();
        let content = Content::from_directory(dir.path()).unwrap();
        assert_eq!(
            content.to_text().unwrap(),
            map(&[("main.tf", "x"), ("modules/pod/main.tf", "y")])
        );
        assert!(matches!(
            Content::from_directory(&dir.path().join("missing")),
            Err(ContentError::Io { .. })
        ));
    }

    #[test]
    fn no_files_is_an_error() {
        assert!(matches!(
            Content::from_map(&BTreeMap::new()),
            Err(ContentError::Empty)
        ));
    }
}
