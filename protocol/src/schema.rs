//! The schema hash: a fingerprint of every wire type, computed at compile time from the
//! `postcard_schema::Schema` trees, so two builds with different message sets refuse each other.
//!
//! FNV-1a 64 over the tree of `Packet`: every type name, data-model kind, field name and variant
//! name, recursively, in declaration order. Unlike postcard-schema's own key hash it includes
//! type names (we never pun types between builds), and it mixes in `Packet`'s maximum encoded
//! size, so changing a string or chunk capacity (which changes what a peer can decode) changes
//! the hash too.

use postcard::experimental::max_size::MaxSize;
use postcard_schema::Schema;
use postcard_schema::schema::{
    DataModelType, DataModelVariant, NamedType, NamedValue, NamedVariant,
};

use crate::envelope::Packet;

const FNV_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// Fingerprint of the message definitions this build speaks (see the module docs).
pub const SCHEMA_HASH: u64 = schema_hash::<Packet>();

/// Hash of the schema of any wire type `T` (used for [`SCHEMA_HASH`] with `T = Packet`, and in
/// tests to show that changing a type changes its hash).
pub const fn schema_hash<T: Schema + MaxSize>() -> u64 {
    let state = named_type(FNV_BASIS, T::SCHEMA);
    update(state, &(T::POSTCARD_MAX_SIZE as u64).to_le_bytes())
}

const fn update(mut state: u64, bytes: &[u8]) -> u64 {
    let mut i = 0;
    while i < bytes.len() {
        state ^= bytes[i] as u64;
        state = state.wrapping_mul(FNV_PRIME);
        i += 1;
    }
    state
}

/// Hashes a name with its length first, so `("ab","c")` and `("a","bc")` differ.
const fn name(state: u64, s: &str) -> u64 {
    let state = update(state, &(s.len() as u32).to_le_bytes());
    update(state, s.as_bytes())
}

const fn named_type(state: u64, nt: &NamedType) -> u64 {
    let state = name(state, nt.name);
    data_model(state, nt.ty)
}

const fn named_types(mut state: u64, nts: &[&NamedType]) -> u64 {
    state = update(state, &(nts.len() as u32).to_le_bytes());
    let mut i = 0;
    while i < nts.len() {
        state = named_type(state, nts[i]);
        i += 1;
    }
    state
}

const fn named_values(mut state: u64, nvs: &[&NamedValue]) -> u64 {
    state = update(state, &(nvs.len() as u32).to_le_bytes());
    let mut i = 0;
    while i < nvs.len() {
        state = name(state, nvs[i].name);
        state = named_type(state, nvs[i].ty);
        i += 1;
    }
    state
}

const fn variants(mut state: u64, vs: &[&NamedVariant]) -> u64 {
    state = update(state, &(vs.len() as u32).to_le_bytes());
    let mut i = 0;
    while i < vs.len() {
        state = name(state, vs[i].name);
        state = match vs[i].ty {
            DataModelVariant::UnitVariant => update(state, &[0x40]),
            DataModelVariant::NewtypeVariant(nt) => named_type(update(state, &[0x41]), nt),
            DataModelVariant::TupleVariant(nts) => named_types(update(state, &[0x42]), nts),
            DataModelVariant::StructVariant(nvs) => named_values(update(state, &[0x43]), nvs),
        };
        i += 1;
    }
    state
}

const fn data_model(state: u64, ty: &DataModelType) -> u64 {
    match ty {
        DataModelType::Bool => update(state, &[0x01]),
        DataModelType::I8 => update(state, &[0x02]),
        DataModelType::U8 => update(state, &[0x03]),
        DataModelType::I16 => update(state, &[0x04]),
        DataModelType::I32 => update(state, &[0x05]),
        DataModelType::I64 => update(state, &[0x06]),
        DataModelType::I128 => update(state, &[0x07]),
        DataModelType::U16 => update(state, &[0x08]),
        DataModelType::U32 => update(state, &[0x09]),
        DataModelType::U64 => update(state, &[0x0a]),
        DataModelType::U128 => update(state, &[0x0b]),
        DataModelType::Usize => update(state, &[0x0c]),
        DataModelType::Isize => update(state, &[0x0d]),
        DataModelType::F32 => update(state, &[0x0e]),
        DataModelType::F64 => update(state, &[0x0f]),
        DataModelType::Char => update(state, &[0x10]),
        DataModelType::String => update(state, &[0x11]),
        DataModelType::ByteArray => update(state, &[0x12]),
        DataModelType::Option(nt) => named_type(update(state, &[0x13]), nt),
        DataModelType::Unit => update(state, &[0x14]),
        DataModelType::UnitStruct => update(state, &[0x15]),
        DataModelType::NewtypeStruct(nt) => named_type(update(state, &[0x16]), nt),
        DataModelType::Seq(nt) => named_type(update(state, &[0x17]), nt),
        DataModelType::Tuple(nts) => named_types(update(state, &[0x18]), nts),
        DataModelType::TupleStruct(nts) => named_types(update(state, &[0x19]), nts),
        DataModelType::Map { key, val } => named_type(named_type(update(state, &[0x1a]), key), val),
        DataModelType::Struct(nvs) => named_values(update(state, &[0x1b]), nvs),
        DataModelType::Enum(vs) => variants(update(state, &[0x1c]), vs),
        DataModelType::Schema => update(state, &[0x1d]),
    }
}
