//! Recognises a Go-built shared object from its ELF sections and symbols, without loading it
//! (loading one would start a Go runtime inside the gateway). The ELF is read with `object`.

use object::{Object, ObjectSection, ObjectSymbol};

/// Section names only the Go linker writes.
const GO_SECTIONS: &[&str] = &[
    ".go.buildinfo",
    ".note.go.buildid",
    ".gopclntab",
    ".gosymtab",
];
/// Symbol names only the Go runtime and cgo define.
const GO_SYMBOLS: &[&str] = &[
    "_cgo_init",
    "x_cgo_init",
    "go:buildid",
    "go.buildid",
    "runtime.main",
];

/// What marks `bytes` as built by Go (`section .go.buildinfo`, `symbol _cgo_init`), or `None`
/// when nothing does or the file is not ELF (then `dlopen` judges it).
pub fn go_marker(bytes: &[u8]) -> Option<String> {
    let file = object::File::parse(bytes).ok()?;
    if file.format() != object::BinaryFormat::Elf {
        return None;
    }
    for section in file.sections() {
        let Ok(name) = section.name() else { continue };
        if let Some(go) = GO_SECTIONS.iter().find(|g| **g == name) {
            return Some(format!("section `{go}`"));
        }
    }
    for symbol in file.symbols().chain(file.dynamic_symbols()) {
        let Ok(name) = symbol.name() else { continue };
        if let Some(go) = GO_SYMBOLS.iter().find(|g| **g == name) {
            return Some(format!("symbol `{go}`"));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::go_marker;

    #[test]
    fn non_elf_and_truncated_files_are_not_go() {
        assert_eq!(
            go_marker(b"not an elf file at all, just text......................"),
            None
        );
        let mut truncated = b"\x7fELF\x02\x01\x01".to_vec();
        truncated.resize(64, 0xff);
        assert_eq!(go_marker(&truncated), None);
    }

    #[test]
    fn the_test_binary_itself_is_not_go() {
        let exe = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        assert_eq!(go_marker(&exe), None);
    }
}
