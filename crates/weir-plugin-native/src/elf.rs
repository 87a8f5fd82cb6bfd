//! Recognises a Go-built shared object from its ELF sections and symbols, without loading it
//! (loading one would start a Go runtime inside the gateway).

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

const SHT_SYMTAB: u32 = 2;
const SHT_DYNSYM: u32 = 11;

/// Reads an ELF image of either class and byte order.
struct Elf<'a> {
    bytes: &'a [u8],
    wide: bool,
    big_endian: bool,
}

struct Section {
    name: u32,
    kind: u32,
    offset: usize,
    size: usize,
    link: usize,
}

impl<'a> Elf<'a> {
    fn parse(bytes: &'a [u8]) -> Option<Elf<'a>> {
        if bytes.len() < 52 || &bytes[..4] != b"\x7fELF" {
            return None;
        }
        let wide = match bytes[4] {
            1 => false,
            2 => true,
            _ => return None,
        };
        let big_endian = match bytes[5] {
            1 => false,
            2 => true,
            _ => return None,
        };
        Some(Elf {
            bytes,
            wide,
            big_endian,
        })
    }

    fn uint(&self, at: usize, width: usize) -> Option<u64> {
        let raw = self.bytes.get(at..at.checked_add(width)?)?;
        let mut v = 0u64;
        for i in 0..width {
            let b = if self.big_endian {
                raw[i]
            } else {
                raw[width - 1 - i]
            };
            v = (v << 8) | u64::from(b);
        }
        Some(v)
    }

    fn u16(&self, at: usize) -> Option<usize> {
        self.uint(at, 2).map(|v| v as usize)
    }

    fn u32(&self, at: usize) -> Option<u32> {
        self.uint(at, 4).map(|v| v as u32)
    }

    /// An address-sized field.
    fn addr(&self, at: usize) -> Option<usize> {
        self.uint(at, if self.wide { 8 } else { 4 })
            .and_then(|v| usize::try_from(v).ok())
    }

    fn sections(&self) -> Option<Vec<Section>> {
        let (shoff, shentsize, shnum) = if self.wide {
            (self.addr(40)?, self.u16(58)?, self.u16(60)?)
        } else {
            (self.addr(32)?, self.u16(46)?, self.u16(48)?)
        };
        let mut out = Vec::with_capacity(shnum);
        for i in 0..shnum {
            let at = shoff.checked_add(i.checked_mul(shentsize)?)?;
            let s = if self.wide {
                Section {
                    name: self.u32(at)?,
                    kind: self.u32(at + 4)?,
                    offset: self.addr(at + 24)?,
                    size: self.addr(at + 32)?,
                    link: self.u32(at + 40)? as usize,
                }
            } else {
                Section {
                    name: self.u32(at)?,
                    kind: self.u32(at + 4)?,
                    offset: self.addr(at + 16)?,
                    size: self.addr(at + 20)?,
                    link: self.u32(at + 24)? as usize,
                }
            };
            out.push(s);
        }
        Some(out)
    }

    fn shstrndx(&self) -> Option<usize> {
        self.u16(if self.wide { 62 } else { 50 })
    }

    /// The NUL-terminated string at `index` of a string table section.
    fn string(&self, table: &Section, index: usize) -> Option<&'a [u8]> {
        let data = self
            .bytes
            .get(table.offset..table.offset.checked_add(table.size)?)?;
        let rest = data.get(index..)?;
        let end = rest.iter().position(|&b| b == 0)?;
        Some(&rest[..end])
    }
}

/// What marks `bytes` as built by Go (`section .go.buildinfo`, `symbol _cgo_init`), or `None`
/// when nothing does or the file is not ELF (then `dlopen` judges it).
pub fn go_marker(bytes: &[u8]) -> Option<String> {
    let elf = Elf::parse(bytes)?;
    let sections = elf.sections()?;
    if let Some(names) = sections.get(elf.shstrndx()?) {
        for s in &sections {
            let name = elf.string(names, s.name as usize).unwrap_or_default();
            if let Some(go) = GO_SECTIONS.iter().find(|g| g.as_bytes() == name) {
                return Some(format!("section `{go}`"));
            }
        }
    }
    let entsize = if elf.wide { 24 } else { 16 };
    for table in sections
        .iter()
        .filter(|s| s.kind == SHT_SYMTAB || s.kind == SHT_DYNSYM)
    {
        let Some(strings) = sections.get(table.link) else {
            continue;
        };
        for i in 0..table.size / entsize {
            let Some(name) = elf.u32(table.offset + i * entsize) else {
                break;
            };
            let name = elf.string(strings, name as usize).unwrap_or_default();
            if let Some(go) = GO_SYMBOLS.iter().find(|g| g.as_bytes() == name) {
                return Some(format!("symbol `{go}`"));
            }
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
