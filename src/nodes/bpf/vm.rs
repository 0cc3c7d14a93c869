//! A classic BPF (cBPF) interpreter for the `bpf` node: FreeBSD's `bpf_filter` and
//! `bpf_validate` (sys/net/bpf_filter.c) rewritten, not translated.
//!
//! A program is a list of [`Insn`]s (`struct bpf_insn`: a 16-bit opcode, two 8-bit jump offsets,
//! a 32-bit constant). [`Program::new`] validates it as `bpf_validate` does, and decodes it once
//! into operations the interpreter matches on; [`Program::run`] runs it over a frame's bytes
//! (offset 0 is the first byte the program sees) and returns its verdict: 0 rejects the frame,
//! n > 0 accepts it and asks for (at most) its first n bytes.
//!
//! Validation (as `bpf_validate`, plus ng_bpf's length limit):
//! * 1 to [`MAX_INSNS`] instructions (FreeBSD's `bpf_maxinsns` default, which ng_bpf checks;
//!   `bpf_validate` itself takes an empty program as "accept all", the node does not);
//! * every opcode is one the interpreter knows: exactly the 49 of FreeBSD's `bpf_code_map`
//!   (LD/LDX W/H/B with IMM/ABS/IND/MEM/LEN/MSH as defined, ST, STX, the eleven ALU
//!   operations with K and X (NEG without), JA and JEQ/JGT/JGE/JSET with K and X, RET K/A,
//!   TAX/TXA);
//! * every jump lands inside the program (forward only: offsets are unsigned);
//! * `M[k]` accesses have k < [`MEMWORDS`];
//! * no division or modulus by the constant 0;
//! * the last instruction is a RET.
//!
//! Running (as `bpf_filter` over a contiguous buffer, `wirelen` = `buflen` = the frame length):
//! * A, X and the scratch memory start at 0;
//! * a packet load that reaches past the end of the frame ends the program with 0;
//! * a division or modulus by X = 0 ends the program with 0;
//! * arithmetic is on 32 bits, wrapping; a shift by 32 or more shifts by the count modulo 32
//!   (what the C code does on amd64, and what Linux's interpreter defines);
//! * jumps are forward, so a program always ends, after at most as many steps as it has
//!   instructions.
//!
//! Nothing here allocates, locks or panics while a program runs.

/// One instruction, as `struct bpf_insn` holds it (and `tcpdump -dd` prints it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Insn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

impl Insn {
    /// A non-jump instruction (`BPF_STMT`).
    pub const fn stmt(code: u16, k: u32) -> Insn {
        Insn {
            code,
            jt: 0,
            jf: 0,
            k,
        }
    }
    /// A conditional jump (`BPF_JUMP`).
    pub const fn jump(code: u16, k: u32, jt: u8, jf: u8) -> Insn {
        Insn { code, jt, jf, k }
    }
}

/// Words of scratch memory (`BPF_MEMWORDS`).
pub const MEMWORDS: usize = 16;
/// The longest program accepted (FreeBSD's `net.bpf.maxinsns` default, which ng_bpf applies).
pub const MAX_INSNS: usize = 512;

/// Opcode fields and values (net/bpf.h).
pub mod op {
    pub const LD: u16 = 0x00;
    pub const LDX: u16 = 0x01;
    pub const ST: u16 = 0x02;
    pub const STX: u16 = 0x03;
    pub const ALU: u16 = 0x04;
    pub const JMP: u16 = 0x05;
    pub const RET: u16 = 0x06;
    pub const MISC: u16 = 0x07;
    pub const W: u16 = 0x00;
    pub const H: u16 = 0x08;
    pub const B: u16 = 0x10;
    pub const IMM: u16 = 0x00;
    pub const ABS: u16 = 0x20;
    pub const IND: u16 = 0x40;
    pub const MEM: u16 = 0x60;
    pub const LEN: u16 = 0x80;
    pub const MSH: u16 = 0xa0;
    pub const ADD: u16 = 0x00;
    pub const SUB: u16 = 0x10;
    pub const MUL: u16 = 0x20;
    pub const DIV: u16 = 0x30;
    pub const OR: u16 = 0x40;
    pub const AND: u16 = 0x50;
    pub const LSH: u16 = 0x60;
    pub const RSH: u16 = 0x70;
    pub const NEG: u16 = 0x80;
    pub const MOD: u16 = 0x90;
    pub const XOR: u16 = 0xa0;
    pub const JA: u16 = 0x00;
    pub const JEQ: u16 = 0x10;
    pub const JGT: u16 = 0x20;
    pub const JGE: u16 = 0x30;
    pub const JSET: u16 = 0x40;
    pub const K: u16 = 0x00;
    pub const X: u16 = 0x08;
    pub const A: u16 = 0x10;
    pub const TAX: u16 = 0x00;
    pub const TXA: u16 = 0x80;

    /// The instruction class (`BPF_CLASS`).
    pub const fn class(code: u16) -> u16 {
        code & 0x07
    }
}

/// Why a program was refused (the node answers EINVAL).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    #[error("a program has at least one instruction")]
    Empty,
    #[error("{0} instructions: at most {MAX_INSNS}")]
    TooLong(usize),
    #[error("instruction {at}: unknown opcode 0x{code:x}")]
    Opcode { at: usize, code: u16 },
    #[error("instruction {at}: jumps past the last instruction")]
    Jump { at: usize },
    #[error("instruction {at}: scratch memory M[{k}] (there are M[0]..M[15])")]
    Memory { at: usize, k: u32 },
    #[error("instruction {at}: division or modulus by the constant 0")]
    DivZero { at: usize },
    #[error("the last instruction is not a RET")]
    NoRet,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Alu {
    Add,
    Sub,
    Mul,
    Div,
    Or,
    And,
    Lsh,
    Rsh,
    Mod,
    Xor,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmp {
    Eq,
    Gt,
    Ge,
    Set,
}

/// A decoded instruction. Scratch indexes are checked (< 16) before an `Op` is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    LdW(u32),
    LdH(u32),
    LdB(u32),
    LdIndW(u32),
    LdIndH(u32),
    LdIndB(u32),
    LdLen,
    LdImm(u32),
    LdMem(u32),
    LdxLen,
    LdxImm(u32),
    LdxMem(u32),
    LdxMsh(u32),
    St(u32),
    Stx(u32),
    AluK(Alu, u32),
    AluX(Alu),
    Neg,
    Ja(u32),
    JmpK(Cmp, u32, u8, u8),
    JmpX(Cmp, u8, u8),
    RetK(u32),
    RetA,
    Tax,
    Txa,
}

fn alu_op(code: u16) -> Option<Alu> {
    use op::*;
    Some(match code & 0xf0 {
        ADD => Alu::Add,
        SUB => Alu::Sub,
        MUL => Alu::Mul,
        DIV => Alu::Div,
        OR => Alu::Or,
        AND => Alu::And,
        LSH => Alu::Lsh,
        RSH => Alu::Rsh,
        MOD => Alu::Mod,
        XOR => Alu::Xor,
        _ => return None,
    })
}

fn cmp_op(code: u16) -> Option<Cmp> {
    use op::*;
    Some(match code & 0xf0 {
        JEQ => Cmp::Eq,
        JGT => Cmp::Gt,
        JGE => Cmp::Ge,
        JSET => Cmp::Set,
        _ => return None,
    })
}

/// The operation of an opcode the interpreter knows (None: FreeBSD's validator refuses it).
fn decode(i: Insn) -> Option<Op> {
    use op::*;
    let k = i.k;
    if i.code > 0xff {
        return None;
    }
    Some(match i.code {
        c if c == LD | W | ABS => Op::LdW(k),
        c if c == LD | H | ABS => Op::LdH(k),
        c if c == LD | B | ABS => Op::LdB(k),
        c if c == LD | W | IND => Op::LdIndW(k),
        c if c == LD | H | IND => Op::LdIndH(k),
        c if c == LD | B | IND => Op::LdIndB(k),
        c if c == LD | W | LEN => Op::LdLen,
        c if c == LD | W | IMM => Op::LdImm(k),
        c if c == LD | W | MEM => Op::LdMem(k),
        c if c == LDX | W | LEN => Op::LdxLen,
        c if c == LDX | W | IMM => Op::LdxImm(k),
        c if c == LDX | W | MEM => Op::LdxMem(k),
        c if c == LDX | B | MSH => Op::LdxMsh(k),
        ST => Op::St(k),
        STX => Op::Stx(k),
        c if c == ALU | NEG => Op::Neg,
        c if class(c) == ALU && c & 0x08 == 0 => Op::AluK(alu_op(c)?, k),
        c if class(c) == ALU && c & 0x08 == X => Op::AluX(alu_op(c)?),
        c if c == JMP | JA => Op::Ja(k),
        c if class(c) == JMP && c & 0x08 == 0 => Op::JmpK(cmp_op(c)?, k, i.jt, i.jf),
        c if class(c) == JMP && c & 0x08 == X => Op::JmpX(cmp_op(c)?, i.jt, i.jf),
        c if c == RET | K => Op::RetK(k),
        c if c == RET | A => Op::RetA,
        c if c == MISC | TAX => Op::Tax,
        c if c == MISC | TXA => Op::Txa,
        _ => return None,
    })
}

/// Whether FreeBSD's validator knows the opcode (its `BPF_VALIDATE_CODE`).
pub fn known_opcode(code: u16) -> bool {
    decode(Insn::stmt(code, 1)).is_some()
}

/// Checks a program as FreeBSD's `bpf_validate` does (and ng_bpf's length limit).
pub fn validate(prog: &[Insn]) -> Result<(), Invalid> {
    use op::*;
    let len = prog.len();
    if len == 0 {
        return Err(Invalid::Empty);
    }
    if len > MAX_INSNS {
        return Err(Invalid::TooLong(len));
    }
    for (at, i) in prog.iter().enumerate() {
        if !known_opcode(i.code) {
            return Err(Invalid::Opcode { at, code: i.code });
        }
        if class(i.code) == JMP {
            let offset = if i.code == JMP | JA {
                i.k
            } else {
                i.jt.max(i.jf) as u32
            };
            // The target, at + 1 + offset, must be an instruction.
            if offset as u64 >= (len - at) as u64 - 1 {
                return Err(Invalid::Jump { at });
            }
            continue;
        }
        let scratch = [ST, STX, LD | MEM, LDX | MEM];
        if scratch.contains(&i.code) {
            if i.k as usize >= MEMWORDS {
                return Err(Invalid::Memory { at, k: i.k });
            }
            continue;
        }
        if (i.code == ALU | DIV | K || i.code == ALU | MOD | K) && i.k == 0 {
            return Err(Invalid::DivZero { at });
        }
    }
    if class(prog[len - 1].code) != RET {
        return Err(Invalid::NoRet);
    }
    Ok(())
}

/// A validated program, decoded for the interpreter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    ops: Box<[Op]>,
}

impl Program {
    /// Validates `prog` ([`validate`]) and decodes it.
    pub fn new(prog: &[Insn]) -> Result<Program, Invalid> {
        validate(prog)?;
        let op = |(at, i): (usize, &Insn)| decode(*i).ok_or(Invalid::Opcode { at, code: i.code });
        Ok(Program {
            ops: prog.iter().enumerate().map(op).collect::<Result<_, _>>()?,
        })
    }

    /// The verdict when the program is one `RET #k` (it does not look at the frame).
    pub fn constant(&self) -> Option<u32> {
        match self.ops.first() {
            Some(Op::RetK(k)) => Some(*k),
            _ => None,
        }
    }

    /// Runs the program over `pkt`: 0 rejects it, n > 0 accepts its first n bytes.
    #[inline]
    pub fn run(&self, pkt: &[u8]) -> u32 {
        self.exec(pkt).unwrap_or(0)
    }

    /// The interpreter: None where `bpf_filter` returns 0 early (a load past the end of the
    /// frame, a division by X = 0).
    fn exec(&self, p: &[u8]) -> Option<u32> {
        let (mut a, mut x) = (0u32, 0u32);
        let mut mem = [0u32; MEMWORDS];
        let len = p.len() as u32;
        let mut pc = 0usize;
        while let Some(&op) = self.ops.get(pc) {
            pc += 1;
            match op {
                Op::LdW(k) => a = word(p, k as u64)?,
                Op::LdH(k) => a = half(p, k as u64)?,
                Op::LdB(k) => a = byte(p, k as u64)?,
                Op::LdIndW(k) => a = word(p, x as u64 + k as u64)?,
                Op::LdIndH(k) => a = half(p, x as u64 + k as u64)?,
                Op::LdIndB(k) => a = byte(p, x as u64 + k as u64)?,
                Op::LdLen => a = len,
                Op::LdImm(k) => a = k,
                Op::LdMem(k) => a = mem[k as usize % MEMWORDS],
                Op::LdxLen => x = len,
                Op::LdxImm(k) => x = k,
                Op::LdxMem(k) => x = mem[k as usize % MEMWORDS],
                Op::LdxMsh(k) => x = (byte(p, k as u64)? & 0xf) << 2,
                Op::St(k) => mem[k as usize % MEMWORDS] = a,
                Op::Stx(k) => mem[k as usize % MEMWORDS] = x,
                Op::AluK(f, k) => a = alu(f, a, k)?,
                Op::AluX(f) => a = alu(f, a, x)?,
                Op::Neg => a = a.wrapping_neg(),
                Op::Ja(k) => pc = pc.saturating_add(k as usize),
                Op::JmpK(c, k, jt, jf) => pc += if cmp(c, a, k) { jt } else { jf } as usize,
                Op::JmpX(c, jt, jf) => pc += if cmp(c, a, x) { jt } else { jf } as usize,
                Op::RetK(k) => return Some(k),
                Op::RetA => return Some(a),
                Op::Tax => x = a,
                Op::Txa => a = x,
            }
        }
        // Unreachable for a validated program (it ends in RET, jumps land inside).
        Some(0)
    }
}

#[inline(always)]
fn bytes<const N: usize>(p: &[u8], at: u64) -> Option<[u8; N]> {
    let at = usize::try_from(at).ok()?;
    p.get(at..at.checked_add(N)?)?.try_into().ok()
}

#[inline(always)]
fn word(p: &[u8], at: u64) -> Option<u32> {
    bytes::<4>(p, at).map(u32::from_be_bytes)
}

#[inline(always)]
fn half(p: &[u8], at: u64) -> Option<u32> {
    bytes::<2>(p, at).map(|b| u16::from_be_bytes(b) as u32)
}

#[inline(always)]
fn byte(p: &[u8], at: u64) -> Option<u32> {
    bytes::<1>(p, at).map(|b| b[0] as u32)
}

#[inline(always)]
fn alu(f: Alu, a: u32, v: u32) -> Option<u32> {
    Some(match f {
        Alu::Add => a.wrapping_add(v),
        Alu::Sub => a.wrapping_sub(v),
        Alu::Mul => a.wrapping_mul(v),
        Alu::Div => a.checked_div(v)?,
        Alu::Mod => a.checked_rem(v)?,
        Alu::Or => a | v,
        Alu::And => a & v,
        Alu::Xor => a ^ v,
        Alu::Lsh => a.wrapping_shl(v),
        Alu::Rsh => a.wrapping_shr(v),
    })
}

#[inline(always)]
fn cmp(c: Cmp, a: u32, v: u32) -> bool {
    match c {
        Cmp::Eq => a == v,
        Cmp::Gt => a > v,
        Cmp::Ge => a >= v,
        Cmp::Set => a & v != 0,
    }
}

#[cfg(test)]
mod tests {
    use super::op::*;
    use super::*;

    fn s(code: u16, k: u32) -> Insn {
        Insn::stmt(code, k)
    }
    fn j(code: u16, k: u32, jt: u8, jf: u8) -> Insn {
        Insn::jump(code, k, jt, jf)
    }
    const RET_A: Insn = Insn::stmt(RET | A, 0);

    /// Validates and runs.
    fn run(prog: &[Insn], pkt: &[u8]) -> u32 {
        Program::new(prog)
            .unwrap_or_else(|e| panic!("{prog:?}: {e}"))
            .run(pkt)
    }

    /// A (the return value) after `prog` then `ret a`, over `pkt`.
    fn a_after(prog: &[Insn], pkt: &[u8]) -> u32 {
        let mut p = prog.to_vec();
        p.push(RET_A);
        run(&p, pkt)
    }

    /// The 49 opcodes of FreeBSD's bpf_code_map (sys/net/bpf_filter.c), listed by name.
    fn freebsd_opcodes() -> Vec<u16> {
        let mut v = vec![
            LD | W | IMM,
            LDX | W | IMM,
            ST,
            STX,
            LD | W | ABS,
            LD | H | ABS,
            LD | B | ABS,
            LD | W | IND,
            LD | H | IND,
            LD | B | IND,
            LD | W | MEM,
            LDX | W | MEM,
            LD | W | LEN,
            LDX | W | LEN,
            LDX | B | MSH,
            ALU | NEG,
            JMP | JA,
            RET | K,
            RET | A,
            MISC | TAX,
            MISC | TXA,
        ];
        for o in [ADD, SUB, MUL, DIV, OR, AND, LSH, RSH, MOD, XOR] {
            v.extend([ALU | o | K, ALU | o | X]);
        }
        for o in [JEQ, JGT, JGE, JSET] {
            v.extend([JMP | o | K, JMP | o | X]);
        }
        v.sort_unstable();
        v
    }

    #[test]
    fn the_known_opcodes_are_freebsds() {
        let ours: Vec<u16> = (0..=u16::MAX).filter(|c| known_opcode(*c)).collect();
        assert_eq!(ours, freebsd_opcodes());
        assert_eq!(ours.len(), 49);
        // e.g. LD|H|IMM, LDX|W|ABS, NEG|X, JA|X, RET|X, opcodes over 0xff
        for c in [0x08, 0x21, 0x8c, 0x0d, 0x0e, 0x106, 0xffff] {
            assert!(!known_opcode(c), "0x{c:x}");
        }
    }

    #[test]
    fn loads_absolute_big_endian_and_bounded() {
        let p: Vec<u8> = (1..=8).collect();
        assert_eq!(a_after(&[s(LD | W | ABS, 0)], &p), 0x01020304);
        assert_eq!(a_after(&[s(LD | W | ABS, 4)], &p), 0x05060708);
        assert_eq!(a_after(&[s(LD | H | ABS, 6)], &p), 0x0708);
        assert_eq!(a_after(&[s(LD | B | ABS, 7)], &p), 8);
        // One byte too far: the program returns 0, whatever follows.
        let ret9 = s(RET | K, 9);
        assert_eq!(run(&[s(LD | W | ABS, 5), ret9], &p), 0);
        assert_eq!(run(&[s(LD | H | ABS, 7), ret9], &p), 0);
        assert_eq!(run(&[s(LD | B | ABS, 8), ret9], &p), 0);
        assert_eq!(run(&[s(LD | W | ABS, u32::MAX), ret9], &p), 0);
        assert_eq!(run(&[s(LD | B | ABS, 0), ret9], &[]), 0);
        assert_eq!(run(&[s(LD | B | ABS, 7), ret9], &p), 9);
    }

    #[test]
    fn loads_indirect_add_x_without_wrapping() {
        let p: Vec<u8> = (1..=8).collect();
        let ldx = |x| s(LDX | W | IMM, x);
        assert_eq!(a_after(&[ldx(2), s(LD | W | IND, 1)], &p), 0x04050607);
        assert_eq!(a_after(&[ldx(6), s(LD | H | IND, 0)], &p), 0x0708);
        assert_eq!(a_after(&[ldx(3), s(LD | B | IND, 4)], &p), 8);
        let ret9 = s(RET | K, 9);
        assert_eq!(run(&[ldx(3), s(LD | W | IND, 2), ret9], &p), 0);
        assert_eq!(run(&[ldx(7), s(LD | H | IND, 0), ret9], &p), 0);
        assert_eq!(run(&[ldx(4), s(LD | B | IND, 4), ret9], &p), 0);
        // X + k wrapping to a small number in 32 bits is still out of bounds.
        assert_eq!(run(&[ldx(u32::MAX), s(LD | B | IND, 2), ret9], &p), 0);
        assert_eq!(run(&[ldx(2), s(LD | W | IND, u32::MAX), ret9], &p), 0);
    }

    #[test]
    fn msh_len_imm_and_scratch_memory() {
        let p = [0u8, 0x45, 0xff];
        assert_eq!(a_after(&[s(LDX | B | MSH, 1), s(MISC | TXA, 0)], &p), 20);
        assert_eq!(a_after(&[s(LDX | B | MSH, 2), s(MISC | TXA, 0)], &p), 60);
        assert_eq!(run(&[s(LDX | B | MSH, 3), s(RET | K, 1)], &p), 0);
        assert_eq!(a_after(&[s(LD | W | LEN, 0)], &p), 3);
        assert_eq!(
            a_after(&[s(LDX | W | LEN, 0), s(MISC | TXA, 0)], &[0; 77]),
            77
        );
        assert_eq!(a_after(&[s(LD | W | IMM, 0xdeadbeef)], &p), 0xdeadbeef);
        let prog = [
            s(LD | W | IMM, 7),
            s(ST, 15),
            s(LDX | W | IMM, 9),
            s(STX, 0),
            s(LD | W | MEM, 0),   // A = 9
            s(LDX | W | MEM, 15), // X = 7
            s(ALU | MUL | X, 0),  // 63
            s(LDX | W | MEM, 3),  // never written: 0
            s(ALU | ADD | X, 0),
        ];
        assert_eq!(a_after(&prog, &p), 63);
    }

    #[test]
    fn alu_operations_with_k_and_x() {
        let cases: [(u16, u32, u32, u32); 12] = [
            (ADD, 0xffff_fff0, 0x20, 0x10),
            (SUB, 3, 5, 0xffff_fffe),
            (MUL, 0x1_0001, 0x1_0001, 0x0002_0001),
            (DIV, 100, 7, 14),
            (MOD, 100, 7, 2),
            (OR, 0xf0, 0x0f, 0xff),
            (AND, 0xf0, 0x3c, 0x30),
            (XOR, 0xff, 0x0f, 0xf0),
            (LSH, 1, 31, 0x8000_0000),
            (RSH, 0x8000_0000, 31, 1),
            (LSH, 3, 33, 6),
            (RSH, 8, 35, 1),
        ];
        for (o, a, v, want) in cases {
            let k = [s(LD | W | IMM, a), s(ALU | o | K, v)];
            assert_eq!(a_after(&k, &[]), want, "op 0x{o:x} K");
            let x = [s(LD | W | IMM, a), s(LDX | W | IMM, v), s(ALU | o | X, 0)];
            assert_eq!(a_after(&x, &[]), want, "op 0x{o:x} X");
        }
        assert_eq!(
            a_after(&[s(LD | W | IMM, 5), s(ALU | NEG, 0)], &[]),
            5u32.wrapping_neg()
        );
        assert_eq!(a_after(&[s(ALU | NEG, 0)], &[]), 0);
    }

    #[test]
    fn division_by_a_zero_x_returns_0() {
        for o in [DIV, MOD] {
            let prog = [s(LD | W | IMM, 10), s(ALU | o | X, 0), s(RET | K, 99)];
            assert_eq!(run(&prog, &[1, 2, 3]), 0, "op 0x{o:x}");
            let prog = [s(LDX | W | IMM, 1), s(ALU | o | X, 0), s(RET | K, 99)];
            assert_eq!(run(&prog, &[1, 2, 3]), 99);
        }
    }

    #[test]
    fn jumps_with_k_and_x() {
        // A = 5, X = 5; each jump goes to `ret #1` (taken) or `ret #2` (not taken).
        let verdict = |code: u16, k: u32, a: u32, x: u32| {
            let prog = [
                s(LD | W | IMM, a),
                s(LDX | W | IMM, x),
                j(code, k, 0, 1),
                s(RET | K, 1),
                s(RET | K, 2),
            ];
            run(&prog, &[])
        };
        let taken = |c, k, a, x| verdict(c, k, a, x) == 1;
        assert!(taken(JMP | JEQ | K, 5, 5, 0) && !taken(JMP | JEQ | K, 4, 5, 0));
        assert!(taken(JMP | JGT | K, 4, 5, 0) && !taken(JMP | JGT | K, 5, 5, 0));
        assert!(taken(JMP | JGE | K, 5, 5, 0) && !taken(JMP | JGE | K, 6, 5, 0));
        assert!(taken(JMP | JSET | K, 4, 5, 0) && !taken(JMP | JSET | K, 2, 5, 0));
        assert!(taken(JMP | JEQ | X, 0, 5, 5) && !taken(JMP | JEQ | X, 5, 5, 4));
        assert!(taken(JMP | JGT | X, 0, 5, 4) && !taken(JMP | JGT | X, 0, 5, 5));
        assert!(taken(JMP | JGE | X, 0, 5, 5) && !taken(JMP | JGE | X, 0, 5, 6));
        assert!(taken(JMP | JSET | X, 0, 5, 1) && !taken(JMP | JSET | X, 0, 5, 2));
        // Comparisons are unsigned.
        assert!(taken(JMP | JGT | K, 1, u32::MAX, 0));
        let ja = [
            j(JMP | JA, 2, 9, 9),
            s(RET | K, 1),
            s(RET | K, 2),
            s(RET | K, 3),
        ];
        assert_eq!(run(&ja, &[]), 3, "JA jumps by k, ignoring jt and jf");
        let skip = [j(JMP | JEQ | K, 0, 1, 0), s(RET | K, 1), s(RET | K, 2)];
        assert_eq!(run(&skip, &[]), 2, "A starts at 0");
    }

    #[test]
    fn returns_and_register_transfers() {
        assert_eq!(run(&[s(RET | K, 0)], &[1]), 0);
        assert_eq!(run(&[s(RET | K, u32::MAX)], &[1]), u32::MAX);
        assert_eq!(run(&[s(LD | W | IMM, 42), RET_A], &[]), 42);
        assert_eq!(
            a_after(
                &[
                    s(LD | W | IMM, 7),
                    s(MISC | TAX, 0),
                    s(LD | W | IMM, 1),
                    s(MISC | TXA, 0)
                ],
                &[]
            ),
            7
        );
        assert_eq!(
            Program::new(&[s(RET | K, 60)]).unwrap().constant(),
            Some(60)
        );
        assert_eq!(
            Program::new(&[s(LD | W | LEN, 0), RET_A])
                .unwrap()
                .constant(),
            None
        );
    }

    #[test]
    fn validation_refuses_as_bpf_validate() {
        let ret = s(RET | K, 0);
        assert_eq!(validate(&[]), Err(Invalid::Empty));
        assert_eq!(validate(&vec![ret; MAX_INSNS]), Ok(()));
        assert_eq!(
            validate(&vec![ret; MAX_INSNS + 1]),
            Err(Invalid::TooLong(513))
        );
        assert_eq!(
            validate(&[s(0x08, 0), ret]),
            Err(Invalid::Opcode { at: 0, code: 8 })
        );
        assert_eq!(
            validate(&[s(RET | X, 0)]),
            Err(Invalid::Opcode { at: 0, code: 0x0e })
        );
        // Jumps: to the last instruction is fine, one further is not.
        assert_eq!(validate(&[j(JMP | JEQ | K, 0, 1, 0), ret, ret]), Ok(()));
        assert_eq!(
            validate(&[j(JMP | JEQ | K, 0, 2, 0), ret, ret]),
            Err(Invalid::Jump { at: 0 })
        );
        assert_eq!(
            validate(&[j(JMP | JGT | X, 0, 0, 2), ret, ret]),
            Err(Invalid::Jump { at: 0 })
        );
        assert_eq!(validate(&[j(JMP | JA, 1, 0, 0), ret, ret]), Ok(()));
        assert_eq!(
            validate(&[ret, j(JMP | JA, 1, 0, 0), ret]),
            Err(Invalid::Jump { at: 1 })
        );
        assert_eq!(
            validate(&[j(JMP | JA, u32::MAX, 0, 0), ret]),
            Err(Invalid::Jump { at: 0 })
        );
        // A jump as last instruction jumps nowhere.
        assert_eq!(
            validate(&[ret, j(JMP | JA, 0, 0, 0)]),
            Err(Invalid::Jump { at: 1 })
        );
        for c in [ST, STX, LD | W | MEM, LDX | W | MEM] {
            assert_eq!(validate(&[s(c, 15), ret]), Ok(()));
            assert_eq!(
                validate(&[s(c, 16), ret]),
                Err(Invalid::Memory { at: 0, k: 16 })
            );
        }
        for c in [ALU | DIV | K, ALU | MOD | K] {
            assert_eq!(validate(&[s(c, 0), ret]), Err(Invalid::DivZero { at: 0 }));
            assert_eq!(validate(&[s(c, 1), ret]), Ok(()));
        }
        // Constant zero only: by X is checked when it runs.
        assert_eq!(validate(&[s(ALU | DIV | X, 0), ret]), Ok(()));
        assert_eq!(validate(&[ret, s(LD | W | IMM, 0)]), Err(Invalid::NoRet));
        assert_eq!(validate(&[s(RET | A, 0)]), Ok(()));
    }

    /// A fixed-seed xorshift generator.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
        /// A constant: mostly small (frame offsets, scratch indexes, shifts), sometimes any.
        fn k(&mut self) -> u32 {
            match self.below(4) {
                0 => self.next() as u32,
                1 => self.below(16) as u32,
                _ => self.below(110) as u32,
            }
        }
    }

    /// An instruction of opcode `code` that validates at `at` in a program of `len`.
    fn valid_at(code: u16, at: usize, len: usize, r: &mut Rng) -> Insn {
        let room = (len - at - 2) as u64; // the largest jump offset allowed
        let mut i = s(code, r.k());
        if class(code) == JMP {
            let off = |r: &mut Rng| r.below(room.min(255) + 1) as u8;
            i.jt = off(r);
            i.jf = off(r);
            if code == JMP | JA {
                i.k = r.below(room + 1) as u32;
            }
        }
        if [ST, STX, LD | W | MEM, LDX | W | MEM].contains(&code) {
            i.k %= MEMWORDS as u32;
        }
        if [ALU | DIV | K, ALU | MOD | K].contains(&code) && i.k == 0 {
            i.k = 1;
        }
        i
    }

    #[test]
    fn every_accepted_instruction_runs_on_frames_of_0_to_100_bytes() {
        let mut r = Rng(0x9e37_79b9_7f4a_7c15);
        let frames: Vec<Vec<u8>> = (0..=100)
            .map(|n| (0..n).map(|_| r.next() as u8).collect())
            .collect();
        let codes = freebsd_opcodes();
        // Each opcode alone before `ret a`, with many constants.
        for &code in &codes {
            for _ in 0..20 {
                let i = valid_at(code, 0, 2, &mut r);
                let prog = Program::new(&[i, RET_A]).unwrap();
                for f in &frames {
                    prog.run(f);
                }
            }
        }
        // Random programs of every opcode (jumps kept in range), each over every length.
        let mut ran = 0;
        for _ in 0..3000 {
            let len = 2 + r.below(30) as usize;
            let mut prog: Vec<Insn> = (0..len - 1)
                .map(|at| valid_at(codes[r.below(codes.len() as u64) as usize], at, len, &mut r))
                .collect();
            prog.push(if r.below(2) == 0 {
                RET_A
            } else {
                s(RET | K, r.k())
            });
            let p = Program::new(&prog).unwrap_or_else(|e| panic!("{prog:?}: {e}"));
            for f in &frames {
                p.run(f);
                ran += 1;
            }
        }
        assert_eq!(ran, 3000 * 101);
    }

    #[test]
    fn random_instructions_are_refused_or_run() {
        let mut r = Rng(42);
        let (mut ok, mut refused) = (0, 0);
        for _ in 0..20_000 {
            let len = 1 + r.below(8) as usize;
            let mut prog: Vec<Insn> = (0..len)
                .map(|_| Insn {
                    code: if r.below(2) == 0 {
                        r.below(0x100) as u16
                    } else {
                        r.next() as u16
                    },
                    jt: r.below(4) as u8,
                    jf: r.below(4) as u8,
                    k: r.k(),
                })
                .collect();
            if r.below(2) == 0 {
                prog[len - 1].code = RET | K;
            }
            match Program::new(&prog) {
                Ok(p) => {
                    ok += 1;
                    for n in [0, 1, 14, 60] {
                        p.run(&vec![0xa5; n]);
                    }
                }
                Err(_) => refused += 1,
            }
        }
        assert!(ok > 0 && refused > 0, "{ok} {refused}");
    }
}
