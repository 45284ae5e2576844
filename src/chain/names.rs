//! Namecoin's name operations in output scripts.
//!
//! A Namecoin output that registers or updates a name is an ordinary address script behind a
//! prefix: `OP_1 <hash> OP_2DROP` (name_new), `OP_2 <name> <rand> <value> OP_2DROP OP_2DROP`
//! (name_firstupdate) or `OP_3 <name> <value> OP_2DROP OP_DROP` (name_update). The coins belong
//! to the address after the prefix, so the address index keys on that part, as ElectrumX's
//! `NameMixin.interpret_name_prefix` does. Parsing blocks is unaffected.

/// One element of a name-prefix template.
#[derive(Clone, Copy)]
enum Want {
    /// Exactly this opcode.
    Op(u8),
    /// Any data push (opcodes 0x00 to OP_PUSHDATA4, the empty push included).
    Push,
}

const OP_PUSHDATA1: u8 = 0x4c;
const OP_PUSHDATA2: u8 = 0x4d;
const OP_PUSHDATA4: u8 = 0x4e;
const OP_1: u8 = 0x51;
const OP_2: u8 = 0x52;
const OP_3: u8 = 0x53;
const OP_2DROP: u8 = 0x6d;
const OP_DROP: u8 = 0x75;

/// Namecoin's name operations (ElectrumX's `Namecoin.NAME_OPERATIONS`).
const NAME_OPERATIONS: [&[Want]; 3] = [
    &[Want::Op(OP_1), Want::Push, Want::Op(OP_2DROP)],
    &[
        Want::Op(OP_2),
        Want::Push,
        Want::Push,
        Want::Push,
        Want::Op(OP_2DROP),
        Want::Op(OP_2DROP),
    ],
    &[
        Want::Op(OP_3),
        Want::Push,
        Want::Push,
        Want::Op(OP_2DROP),
        Want::Op(OP_DROP),
    ],
];

/// The longest template.
const MAX_PREFIX_OPS: usize = 6;

/// The address part of a Namecoin output script: the script after its name prefix, or the
/// whole script when it has none (or does not parse as a sequence of opcodes).
pub fn strip_name_prefix(script: &[u8]) -> &[u8] {
    // (opcode, is a push, end offset) of the first ops; the whole script must parse, as in
    // ElectrumX, which leaves a truncated script untouched.
    let mut first = [(0u8, false, 0usize); MAX_PREFIX_OPS];
    let mut n_ops = 0;
    let mut pos = 0;
    while pos < script.len() {
        let op = script[pos];
        pos += 1;
        let is_push = op <= OP_PUSHDATA4;
        if is_push {
            let Some(len) = push_len(script, op, &mut pos) else {
                return script;
            };
            match pos.checked_add(len) {
                Some(end) if end <= script.len() => pos = end,
                _ => return script,
            }
        }
        if n_ops < MAX_PREFIX_OPS {
            first[n_ops] = (op, is_push, pos);
        }
        n_ops += 1;
    }
    for template in NAME_OPERATIONS {
        if n_ops < template.len() {
            continue;
        }
        let matches = template
            .iter()
            .zip(&first)
            .all(|(want, &(op, is_push, _))| match want {
                Want::Op(code) => !is_push && op == *code,
                Want::Push => is_push,
            });
        if matches {
            return &script[first[template.len() - 1].2..];
        }
    }
    script
}

/// The length of the data pushed by `op`, reading its length field at `pos` (advanced past it).
fn push_len(script: &[u8], op: u8, pos: &mut usize) -> Option<usize> {
    let width = match op {
        OP_PUSHDATA1 => 1,
        OP_PUSHDATA2 => 2,
        OP_PUSHDATA4 => 4,
        direct => return Some(direct as usize),
    };
    let field = script.get(*pos..*pos + width)?;
    *pos += width;
    let mut le = [0u8; 8];
    le[..width].copy_from_slice(field);
    usize::try_from(u64::from_le_bytes(le)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        crate::types::hex_to_bytes(s).unwrap()
    }

    const P2PKH: &str = "76a9146985a7f580409d4fdaf223f34848212955d371eb88ac";

    #[test]
    fn name_new_prefix_is_stripped() {
        // Output 1 of Namecoin mainnet tx 0c6867...9886 (ElectrumX's test data,
        // tests/transactions/namecoin_mainnet_0c6867.json): name_new.
        let script = hex(&format!(
            "51142dbe200657c5c3cce22f0637480865d5db3aaaac6d{P2PKH}"
        ));
        assert_eq!(strip_name_prefix(&script), &hex(P2PKH)[..]);
    }

    #[test]
    fn firstupdate_and_update_prefixes_are_stripped() {
        // OP_2 "d/x" <rand> <value> OP_2DROP OP_2DROP, then P2PKH.
        let first = hex(&format!("5203642f7801aa027b7d6d6d{P2PKH}"));
        assert_eq!(strip_name_prefix(&first), &hex(P2PKH)[..]);
        // OP_3 "d/x" <value as PUSHDATA1> OP_2DROP OP_DROP, then P2PKH.
        let update = hex(&format!("5303642f784c027b7d6d75{P2PKH}"));
        assert_eq!(strip_name_prefix(&update), &hex(P2PKH)[..]);
        // An empty value (OP_0) is a data push too.
        let empty = hex(&format!("5303642f78006d75{P2PKH}"));
        assert_eq!(strip_name_prefix(&empty), &hex(P2PKH)[..]);
    }

    #[test]
    fn other_scripts_are_returned_whole() {
        for s in [
            P2PKH,
            "",
            "51",                   // OP_1 alone
            "5303642f786d75",       // update with its value missing
            "5103642f786e",         // name_new ending in the wrong opcode
            "5303642f78006d754c05", // update, then a truncated push: the script does not parse
            "534e",                 // OP_PUSHDATA4 without its length
            "524effffffff",         // a push longer than the script
        ] {
            let script = hex(s);
            assert_eq!(strip_name_prefix(&script), &script[..], "{s}");
        }
    }
}
